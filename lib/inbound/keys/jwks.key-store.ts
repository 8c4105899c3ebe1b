import { createPublicKey, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { SigningKeyStore } from './signing-key.store.js';
import { TokenVerificationError } from '../../shared/errors/token-verification.error.js';
import { clock } from '../../shared/clock.js';
import type { ResolvedVerifierOptions } from '../verifier/verifier-options.interface.js';

/** What {@link JwksKeyStore} reads of the verifier's options. */
export type JwksKeyStoreOptions = Pick<
  ResolvedVerifierOptions,
  'certsUrl' | 'keyFetchTimeoutMs' | 'keyRefetchCooldownMs'
>;

const DEFAULT_MAX_AGE_MS = 5 * 60_000; // when the response carries no max-age
const MAX_CACHE_MS = 24 * 3600_000;
const MAX_BODY_CHARS = 1 << 20;
const MIN_MODULUS_BITS = 2048;

/**
 * Keys from a JWKS endpoint (Google's by default), imported once as `KeyObject`s.
 *
 * - Lazy: the first `getKey()` fetches; construction does no I/O.
 * - Cached for the response's `Cache-Control: max-age` (minus `Age`), at least the cooldown
 *   and at most 24 h (5 min without max-age).
 * - One fetch in flight at a time; concurrent callers share it.
 * - An unknown `kid` triggers a refetch only when the last fetch of any kind (the first load
 *   included) started at least one cooldown ago, however many arrive: a flood of made-up kids
 *   cannot turn into a flood of requests to Google. Google publishes a key before signing with
 *   it, so a kid missing from a key set fetched moments ago is almost surely made up.
 * - A failed refresh keeps the cached keys (retried once per cooldown); with nothing cached,
 *   `getKey()` rejects with `keys_unavailable` and the next call tries again.
 */
export class JwksKeyStore extends SigningKeyStore {
  private readonly logger = new Logger('CloudRunAuth');
  private keys: Map<string, KeyObject> | undefined;
  private expiresAt = 0;
  /** When the last fetch (of any kind) started; unknown kids refetch only a cooldown after it. */
  private lastFetchStartedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: JwksKeyStoreOptions) {
    super();
  }

  async getKey(kid: string): Promise<KeyObject | undefined> {
    let refreshed = false;
    if (!this.keys || clock.now() >= this.expiresAt) {
      await this.refresh();
      refreshed = true;
    }
    const keys = this.keys;
    if (!keys) {
      throw new TokenVerificationError(
        'keys_unavailable',
        `no signing keys could be fetched from ${this.options.certsUrl}`,
      );
    }
    const key = keys.get(kid);
    if (key || refreshed) return key;
    if (this.inFlight) {
      // A refetch is already under way (maybe for this very kid, during a rotation): wait for it.
      await this.inFlight;
      return this.keys?.get(kid);
    }
    if (clock.now() - this.lastFetchStartedAt < this.options.keyRefetchCooldownMs) return undefined;
    await this.refresh();
    return this.keys?.get(kid);
  }

  /**
   * The key with id `kid` when the key set is loaded and not due for a refresh, as `getKey()`
   * would answer without fetching; `undefined` otherwise (then `getKey()` decides).
   */
  loadedKey(kid: string): KeyObject | undefined {
    return this.keys !== undefined && clock.now() < this.expiresAt ? this.keys.get(kid) : undefined;
  }

  /** Fetches the key set unless a fetch is already in flight; never rejects. */
  private refresh(): Promise<void> {
    if (!this.inFlight) {
      this.lastFetchStartedAt = clock.now();
      this.inFlight = this.fetchKeys().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    const { certsUrl, keyFetchTimeoutMs, keyRefetchCooldownMs } = this.options;
    try {
      const response = await fetch(certsUrl, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(keyFetchTimeoutMs),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.text();
      if (body.length > MAX_BODY_CHARS) throw new Error('response too large');
      const keys = importJwks(body);
      this.keys = keys;
      this.expiresAt = clock.now() + cacheLifetimeMs(response.headers, keyRefetchCooldownMs);
    } catch (error) {
      const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (this.keys) {
        // Keep serving the keys we have: Google rotates slowly, an outage must not fail requests.
        this.expiresAt = clock.now() + keyRefetchCooldownMs;
        this.logger.warn(
          `Refreshing signing keys from ${certsUrl} failed (${why}); still using the ${this.keys.size} cached key(s)`,
        );
      } else {
        this.logger.warn(`Fetching signing keys from ${certsUrl} failed (${why}); inbound tokens cannot be verified`);
      }
    }
  }
}

/** Parses a JWKS document into RS256 verification keys by kid; throws when none is usable. */
function importJwks(body: string): Map<string, KeyObject> {
  const document: unknown = JSON.parse(body);
  const entries = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries)) throw new Error('not a JWKS document');
  const keys = new Map<string, KeyObject>();
  for (const jwk of entries as Record<string, unknown>[]) {
    if (jwk === null || typeof jwk !== 'object') continue;
    const { kty, kid, n, e, alg, use } = jwk;
    if (kty !== 'RSA' || typeof kid !== 'string' || kid === '' || typeof n !== 'string' || typeof e !== 'string')
      continue;
    if ((alg !== undefined && alg !== 'RS256') || (use !== undefined && use !== 'sig') || keys.has(kid)) continue;
    try {
      const key = createPublicKey({ key: { kty, n, e }, format: 'jwk' });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_MODULUS_BITS) keys.set(kid, key);
    } catch {
      // An unusable entry must not take the others down with it.
    }
  }
  if (keys.size === 0) throw new Error('no usable RS256 key in the JWKS document');
  return keys;
}

function cacheLifetimeMs(headers: Headers, minimumMs: number): number {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(headers.get('cache-control') ?? '');
  const age = Number.parseInt(headers.get('age') ?? '0', 10);
  const ms = maxAge ? (Number(maxAge[1]) - (Number.isFinite(age) ? Math.max(age, 0) : 0)) * 1000 : DEFAULT_MAX_AGE_MS;
  return Math.min(Math.max(ms, minimumMs), MAX_CACHE_MS);
}
