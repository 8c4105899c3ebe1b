/** Refresh an access token this long before Google says it expires. */
const EARLY_MS = 60_000;

/**
 * Caches an access token (used only as the source of an impersonation or federation) until
 * shortly before its `expires_in`, with one fetch in flight at a time.
 */
export function memoizeAccessToken(
  fetcher: (signal?: AbortSignal) => Promise<{ token: string; expiresInSeconds: number }>,
): (signal?: AbortSignal) => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  let inflight: Promise<string> | undefined;
  return (signal) => {
    if (cached && Date.now() < cached.until) return Promise.resolve(cached.token);
    inflight ??= fetcher(signal)
      .then(({ token, expiresInSeconds }) => {
        cached = { token, until: Date.now() + expiresInSeconds * 1000 - EARLY_MS };
        return token;
      })
      .finally(() => (inflight = undefined));
    return inflight;
  };
}
