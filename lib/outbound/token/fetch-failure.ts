import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { localEmulatorHint } from '../../shared/runtime/local-emulator.hint.js';
import type { TokenSource } from '../../shared/telemetry/telemetry.names.js';

/** Why a token fetch failed: the `reason` of metrics and operator logs. */
export type TokenFetchFailureReason =
  | 'timeout'
  | 'unreachable'
  | 'http_4xx'
  | 'throttled'
  | 'http_5xx'
  | 'invalid_response'
  | 'credentials'
  | 'provider_error'
  | 'shutdown'
  | 'unknown';

const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|EPIPE|UND_ERR_\w+)$/;

/**
 * The reason of a failed fetch, read from the errors the credential sources raise (their
 * messages say "timed out", "unreachable", "answered HTTP 403", …) and their causes.
 */
export function fetchFailureReason(error: unknown, shuttingDown = false): TokenFetchFailureReason {
  if (shuttingDown) return 'shutdown';
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const { name, code, message } = current as { name?: unknown; code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : '';
    if (name === 'TimeoutError' || /\btimed out\b|\bwithin \d+ ms\b/.test(text)) return 'timeout';
    if ((typeof code === 'string' && NETWORK_CODES.test(code)) || /\bunreachable\b/.test(text)) return 'unreachable';
    const status = /\banswered HTTP (\d{3})\b|\(HTTP (\d{3})\)/.exec(text);
    if (status) {
      const value = Number(status[1] ?? status[2]);
      return value === 429 ? 'throttled' : value >= 500 ? 'http_5xx' : 'http_4xx';
    }
    if (/not a JWT|not JSON|not a metadata server|the answer has no|without an access token/.test(text))
      return 'invalid_response';
    if (/\btoken provider failed:/.test(text)) return 'provider_error';
    current = (current as { cause?: unknown }).cause;
  }
  if (error instanceof IdTokenFetchError && !error.retryable) return 'credentials';
  return 'unknown';
}

/**
 * The operator's next check after a token fetch failed for `reason`: `source` narrows it, and
 * `error` tells a stopped emulator ({@link localEmulatorHint}) from an unreachable Google.
 */
export function fetchFailureHint(reason: TokenFetchFailureReason, source: TokenSource, error?: unknown): string {
  const local = reason === 'unreachable' && source !== 'custom' ? localEmulatorHint(error) : undefined;
  if (local) return local;
  const endpoint =
    source === 'metadata'
      ? 'the metadata server (on Cloud Run, GCE and GKE it is always there; elsewhere set GOOGLE_APPLICATION_CREDENTIALS, or GCE_METADATA_HOST for the emulator)'
      : "Google's token endpoints (egress: VPC connector, firewall, proxy)";
  switch (reason) {
    case 'timeout':
      return `no answer in time from ${endpoint}; tokenCache.timeoutMs and deadlineMs bound the wait`;
    case 'unreachable':
      return `nothing answered: ${endpoint}`;
    case 'http_4xx':
      return source === 'impersonated' || source === 'external_account'
        ? 'the caller lacks roles/iam.serviceAccountTokenCreator on the impersonated service account, or the account is disabled'
        : 'the credentials or the audience were refused: check that the key or account is enabled and the audience is a URL';
    case 'throttled':
      return 'Google throttles token requests: many processes or identities are fetching at once';
    case 'http_5xx':
      return 'the credential endpoint failed (retried with backoff); transient unless it persists';
    case 'invalid_response':
      return 'the endpoint did not answer with a token: check that GCE_METADATA_HOST or the credentials file points at a real endpoint';
    case 'credentials':
      return 'no usable credentials: check GOOGLE_APPLICATION_CREDENTIALS, the credentials or keyFile option, and the credential type';
    case 'provider_error':
      return 'the custom tokenProvider failed; its error follows';
    default:
      return 'see the error';
  }
}
