import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';

/** The link-local address every GCP runtime serves its metadata server on. */
export const DEFAULT_METADATA_HOST = '169.254.169.254';

/**
 * The metadata server address from the environment, read exactly as google-auth-library's
 * gcp-metadata reads it: `GCE_METADATA_IP` first, then `GCE_METADATA_HOST` (empty counts as
 * unset), else `169.254.169.254`. The value is `host[:port]` or a URL (`http://127.0.0.1:8090`);
 * see {@link metadataUrl}.
 */
export function metadataHostFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.GCE_METADATA_IP || env.GCE_METADATA_HOST || DEFAULT_METADATA_HOST;
}

/**
 * The URL of `/computeMetadata/v1/<path>` on the metadata server at `host`, built as gcp-metadata
 * builds it: `http://` is prepended unless the value starts with `http://` or `https://`, and a
 * path in the value is replaced. Throws a `TypeError` when the result is not a URL.
 */
export function metadataUrl(host: string, path: string): string {
  const base = /^https?:\/\//.test(host) ? host : `http://${host}`;
  return new URL(`/computeMetadata/v1/${path}`, base).href;
}

/**
 * Asks the metadata server for an ID token. The audience is URL-encoded (it is often a URL
 * with its own query string) and `format=full` makes the token carry `email`.
 */
export async function fetchMetadataIdToken(host: string, audience: string, signal?: AbortSignal): Promise<string> {
  const path = `identity?audience=${encodeURIComponent(audience)}&format=full`;
  return (await getMetadata(host, path, audience, signal)).trim();
}

/** An access token of the instance's default service account (the source of an impersonation). */
export async function fetchMetadataAccessToken(
  host: string,
  signal?: AbortSignal,
): Promise<{ token: string; expiresInSeconds: number }> {
  let body: { access_token?: unknown; expires_in?: unknown } = {};
  try {
    body = JSON.parse(await getMetadata(host, 'token', '', signal)) as typeof body;
  } catch (error) {
    if (error instanceof IdTokenFetchError) throw error;
  }
  if (typeof body.access_token !== 'string') {
    throw new IdTokenFetchError(`metadata server at ${host} answered without an access token`, '', true);
  }
  return { token: body.access_token, expiresInSeconds: typeof body.expires_in === 'number' ? body.expires_in : 300 };
}

/** GETs `.../service-accounts/default/<path>` and returns the body of a genuine metadata-server answer. */
async function getMetadata(host: string, path: string, audience: string, signal?: AbortSignal): Promise<string> {
  let url: string;
  try {
    url = metadataUrl(host, `instance/service-accounts/default/${path}`);
  } catch (error) {
    throw new IdTokenFetchError(`metadata server address ${host} is not a host or URL`, audience, false, {
      cause: error,
    });
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' }, signal, redirect: 'error' });
  } catch (error) {
    const reason = signal?.aborted ? 'timed out' : `unreachable (${describe(error)})`;
    throw new IdTokenFetchError(`metadata server at ${host} ${reason}`, audience, true, { cause: error });
  }
  const body = await response.text().catch(() => '');
  if (!response.ok) {
    // 5xx and 429 are transient on the metadata server; 4xx (bad audience, no such account) is not.
    const retryable = response.status >= 500 || response.status === 429;
    throw new IdTokenFetchError(`metadata server at ${host} answered HTTP ${response.status}`, audience, retryable);
  }
  if (response.headers.get('metadata-flavor') !== 'Google') {
    throw new IdTokenFetchError(
      `the server at ${host} is not a metadata server (no "Metadata-Flavor: Google" in its answer)`,
      audience,
      true,
    );
  }
  return body;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string } })?.cause;
  return cause?.code ?? (error instanceof Error ? error.message : String(error));
}
