import { waitFor } from '../../shared/single-flight.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { decodeJwt } from '../../shared/jwt/jwt.codec.js';
import type { IdTokenProvider } from './id-token.provider.js';

/** How long an aborted provider may take to reject with its own error before a generic timeout is reported. */
const ABORT_GRACE_MS = 20;
/** Error codes of Node's network stack and of undici that a later attempt may not meet. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * One provider call, bounded by `timeoutMs` even if the provider ignores its abort signal, and
 * by `signal` (the shared fetch's). On timeout the provider gets a moment to reject with its own,
 * more specific error. The result must be a JWT with an `exp`.
 */
export async function attemptFetch(
  provider: IdTokenProvider,
  audience: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string> {
  const controller = new AbortController();
  const timedOut = new IdTokenFetchError(`timed out after ${timeoutMs} ms`, audience, true);
  const call = Promise.resolve().then(() => provider.getIdToken(audience, { signal: controller.signal }));
  call.catch(() => undefined);
  let token: unknown;
  try {
    token = await waitFor(call, { signal, timeoutMs: Math.max(timeoutMs, 1) }, () => timedOut);
  } catch (error) {
    controller.abort(error);
    if (error !== timedOut) throw error;
    const own = await waitFor(call, { timeoutMs: ABORT_GRACE_MS }, () => timedOut).then(
      () => timedOut,
      (reason: unknown) => reason,
    );
    throw own instanceof IdTokenFetchError ? own : timedOut;
  }
  const payload = typeof token === 'string' ? decodeJwt(token)?.payload : undefined;
  if (!payload || typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) {
    // Say what came back without echoing it: it may be a credential of some other kind.
    throw new IdTokenFetchError(
      'the token source returned something that is not a JWT with an exp claim',
      audience,
      true,
    );
  }
  return token as string;
}

/**
 * An `IdTokenFetchError` for any failure of a provider. Errors it does not know are retried
 * only when they look transient: a network error, a timeout, or an HTTP 5xx or 429 status.
 */
export function toFetchError(error: unknown, audience: string): IdTokenFetchError {
  if (error instanceof IdTokenFetchError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new IdTokenFetchError(`token provider failed: ${message}`, audience, isTransient(error), { cause: error });
}

function isTransient(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { name, code, status, response, cause } = error as {
    name?: unknown;
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
    cause?: unknown;
  };
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('UND_ERR_'))) return true;
  const httpStatus = typeof status === 'number' ? status : response?.status;
  if (typeof httpStatus === 'number') return httpStatus >= 500 || httpStatus === 429;
  return cause !== undefined && cause !== error && isTransient(cause);
}
