import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';

/** A JSON answer from one of Google's token endpoints. */
export type TokenResponse = Record<string, unknown>;

/**
 * POSTs to a Google token endpoint (OAuth 2.0 token, STS, IAM Credentials) and returns its
 * JSON answer. Errors carry the endpoint and status, never the request or response body,
 * which hold credentials.
 */
export async function postToGoogle(
  url: string,
  body: { form: Record<string, string> } | { json: unknown; accessToken: string },
  what: string,
  audience: string,
  signal?: AbortSignal,
): Promise<TokenResponse> {
  const init: RequestInit =
    'form' in body
      ? {
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(body.form).toString(),
        }
      : {
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${body.accessToken}` },
          body: JSON.stringify(body.json),
        };
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', redirect: 'error', signal, ...init });
  } catch (error) {
    const reason = signal?.aborted
      ? 'timed out'
      : `unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? String(error)})`;
    throw new IdTokenFetchError(`${what}: ${new URL(url).origin} ${reason}`, audience, true, { cause: error });
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    // Google's OAuth errors carry a safe machine-readable code ("invalid_grant", "PERMISSION_DENIED").
    const code = errorCode(text);
    throw new IdTokenFetchError(
      `${what}: ${new URL(url).origin} answered HTTP ${response.status}${code ? ` (${code})` : ''}`,
      audience,
      response.status >= 500 || response.status === 429,
    );
  }
  try {
    return JSON.parse(text) as TokenResponse;
  } catch {
    throw new IdTokenFetchError(
      `${what}: ${new URL(url).origin} answered with something that is not JSON`,
      audience,
      true,
    );
  }
}

/** A string field of a token response, or a typed error naming what was missing. */
export function field(response: TokenResponse, name: string, what: string, audience: string): string {
  const value = response[name];
  if (typeof value !== 'string' || value === '') {
    throw new IdTokenFetchError(`${what}: the answer has no "${name}"`, audience, true);
  }
  return value;
}

function errorCode(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: string | { status?: string } };
    const code = typeof body.error === 'string' ? body.error : body.error?.status;
    return typeof code === 'string' && /^[A-Za-z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}
