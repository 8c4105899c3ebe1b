import { SingleFlight, waitFor } from '../../shared/single-flight.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';

/** Refresh an access token this long before Google says it expires. */
const EARLY_MS = 60_000;
/** Most time one access-token fetch may take before it is abandoned and the next caller starts another. */
export const ACCESS_TOKEN_TIMEOUT_MS = 10_000;

/**
 * Caches an access token (used only as the source of an impersonation or federation) until
 * shortly before its `expires_in`, with one fetch in flight at a time. The fetch has its own
 * signal and timeout; a caller's `signal` only ends that caller's wait.
 */
export function memoizeAccessToken(
  fetcher: (signal: AbortSignal) => Promise<{ token: string; expiresInSeconds: number }>,
  description: string,
): (signal?: AbortSignal) => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  const flight = new SingleFlight<'access-token'>();
  const fetch = async (signal: AbortSignal) => {
    const { token, expiresInSeconds } = await fetcher(signal);
    cached = { token, until: Date.now() + expiresInSeconds * 1000 - EARLY_MS };
    return token;
  };
  const timedOut = () =>
    new IdTokenFetchError(`${description}: no access token within ${ACCESS_TOKEN_TIMEOUT_MS} ms`, '', true);
  return (signal) => {
    if (cached && Date.now() < cached.until) return Promise.resolve(cached.token);
    return waitFor(flight.run('access-token', fetch, ACCESS_TOKEN_TIMEOUT_MS, timedOut), { signal }, timedOut);
  };
}
