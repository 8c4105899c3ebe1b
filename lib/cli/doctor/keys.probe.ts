import { jwksFailureHint, jwksFailureReason } from '../../inbound/keys/jwks-failure.js';

/** Why the signing keys at a `certsUrl` could not be had, and what to check, in the key store's own words. */
export interface KeysProblem {
  /** `unreachable (ECONNREFUSED)`, `HTTP 404`, `timed out`. */
  failure: string;
  /** What to check: the key store's hint for the failure. */
  hint: string;
}

/**
 * Fetches `certsUrl` once more to name why the verifier found no keys there (the key store
 * logs it, but not to its caller). Answers as the key store classifies its own failures.
 */
export async function probeKeys(certsUrl: string, timeoutMs: number): Promise<KeysProblem> {
  let error: unknown;
  try {
    const response = await fetch(certsUrl, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    // The key store's own error for an HTTP failure; a 200 it refused was no usable key set.
    error = new Error(response.ok ? 'not a JWKS document with usable keys' : `HTTP ${response.status}`);
  } catch (fetchError) {
    error = fetchError;
  }
  const reason = jwksFailureReason(error);
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  const failure =
    reason === 'timeout'
      ? `timed out after ${timeoutMs} ms`
      : reason === 'unreachable'
        ? `unreachable (${typeof code === 'string' ? code : 'network error'})`
        : (error as Error).message;
  return { failure, hint: jwksFailureHint(reason, error) };
}
