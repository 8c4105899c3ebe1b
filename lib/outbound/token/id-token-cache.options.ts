import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../../shared/options/option.assertions.js';

/** Tuning of the shared ID-token cache (`tokenCache` in the module options). */
export interface IdTokenCacheOptions {
  /**
   * Refresh a token in the background once it has less than this left, while still serving it.
   * Capped at half the token's lifetime so that short-lived tokens are not fetched per request.
   * @default 300
   */
  refreshWindowSeconds?: number;
  /** Timeout of one fetch attempt. @default 2000 */
  timeoutMs?: number;
  /** Total time, retries with jittered exponential backoff included, before a request fails. @default 6000 */
  deadlineMs?: number;
  /** First backoff delay; each retry doubles it (full jitter). @default 100 */
  initialBackoffMs?: number;
  /** Upper bound of one backoff delay. @default 2000 */
  maxBackoffMs?: number;
}

/** {@link IdTokenCacheOptions} with every default applied. */
export type ResolvedIdTokenCacheOptions = Required<IdTokenCacheOptions>;

const DEFAULTS: ResolvedIdTokenCacheOptions = {
  refreshWindowSeconds: 300,
  timeoutMs: 2000,
  deadlineMs: 6000,
  initialBackoffMs: 100,
  maxBackoffMs: 2000,
};

/**
 * Validates `tokenCache` options (every value a positive number) and applies the defaults.
 * @throws CloudRunAuthConfigError naming the field (`tokenCache.timeoutMs`).
 */
export function resolveIdTokenCacheOptions(options: IdTokenCacheOptions = {}): ResolvedIdTokenCacheOptions {
  assertObject(options as unknown, 'tokenCache');
  assertKnownKeys(options, Object.keys(DEFAULTS), 'tokenCache');
  for (const [key, value] of Object.entries(options)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new CloudRunAuthConfigError('must be a positive number', `tokenCache.${key}`);
    }
  }
  return Object.freeze({ ...DEFAULTS, ...options });
}
