import { localEmulatorHint } from '../../shared/runtime/local-emulator.hint.js';

/** Why a JWKS fetch failed: the `reason` of operator logs. */
export type JwksFailureReason = 'timeout' | 'unreachable' | 'http_4xx' | 'http_5xx' | 'invalid_document';

/** The reason of a failed fetch, from the errors `JwksKeyStore` raises and `fetch()`'s own. */
export function jwksFailureReason(error: unknown): JwksFailureReason {
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  const status = typeof message === 'string' ? /^HTTP (\d{3})$/.exec(message) : null;
  if (status) return Number(status[1]) >= 500 ? 'http_5xx' : 'http_4xx';
  // fetch() rejects with a TypeError whose cause is the network error (ECONNREFUSED, ENOTFOUND, …).
  if (name === 'TypeError' && cause !== undefined) return 'unreachable';
  return 'invalid_document';
}

/** What an operator should check for each reason; `error` tells a stopped emulator ({@link localEmulatorHint}) from a blocked egress. */
export function jwksFailureHint(reason: JwksFailureReason, error?: unknown): string {
  const local = reason === 'unreachable' ? localEmulatorHint(error) : undefined;
  if (local) return local;
  switch (reason) {
    case 'timeout':
    case 'unreachable':
      return 'egress from this service to certsUrl (Cloud Run: a VPC connector routing all traffic needs Cloud NAT); keyFetchTimeoutMs bounds a fetch';
    case 'http_4xx':
    case 'http_5xx':
      return "certsUrl (Google's keys: https://www.googleapis.com/oauth2/v3/certs; locally the emulator's)";
    default:
      return 'certsUrl must serve a JWKS document with RS256 keys of at least 2048 bits';
  }
}
