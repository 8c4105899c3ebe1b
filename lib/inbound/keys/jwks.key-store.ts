import { createPublicKey, type KeyObject } from 'node:crypto';
import { Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { SingleFlight } from '../../shared/single-flight.js';
import { SigningKeyStore } from './signing-key.store.js';
import { TokenVerificationError } from '../../shared/errors/token-verification.error.js';
import { clock } from '../../shared/clock.js';
import { CloudRunAuthTelemetry, type CloudRunAuthMetrics } from '../../shared/telemetry/cloud-run-auth.telemetry.js';
import { OperatorLog } from '../../shared/telemetry/operator.log.js';
import type { JwksFetchCause } from '../../shared/telemetry/telemetry.names.js';
import { jwksFailureHint, jwksFailureReason, type JwksFailureReason } from './jwks-failure.js';
import type { ResolvedVerifierOptions } from '../verifier/id-token-verifier.options.js';

/** The signature algorithms whose keys a {@link JwksKeyStore} can hold. */
export type JwksAlgorithm = 'RS256' | 'ES256';

/** What {@link JwksKeyStore} reads of the verifier's options. */
export type JwksKeyStoreOptions = Pick<
  ResolvedVerifierOptions,
  'certsUrl' | 'keyFetchTimeoutMs' | 'keyRefetchCooldownMs'
> & {
  /**
   * Which keys of the set are imported, all others skipped: `RS256`, RSA keys of at least 2048
   * bits (Google's ID-token keys); `ES256`, EC keys on P-256 (IAP's). @default 'RS256'
   */
  algorithm?: JwksAlgorithm;
};

const DEFAULT_MAX_AGE_MS = 5 * 60_000; // when the response carries no max-age
const MAX_CACHE_MS = 24 * 3600_000;
/**
 * How long past its expiry a key set stays in use while no fresh one can be had (24 h). Google
 * publishes a key well before it signs with it and keeps it published after, over days, so a
 * day-old set still verifies current tokens through an outage of Google's endpoint or of this
 * service's egress; past that the keys are dropped and verifications fail with `keys_unavailable`.
 */
export const MAX_KEY_STALENESS_MS = 24 * 3600_000;
const MAX_BODY_BYTES = 1 << 20;
const MIN_MODULUS_BITS = 2048;
/** `asymmetricKeyDetails.namedCurve` of a P-256 key. */
const P256 = 'prime256v1';
/** A background refresh starts this share of the key set's lifetime before it expires, or a fetch timeout if that is longer. */
const REFRESH_AHEAD_SHARE = 0.1;

/**
 * Keys from a JWKS endpoint (Google's by default), imported once as `KeyObject`s: the keys of
 * one algorithm (`options.algorithm`), so that a key can never verify a signature of another.
 *
 * - Lazy: the first `getKey()` fetches; construction does no I/O.
 * - Fresh for the response's `Cache-Control: max-age` (minus `Age`), at least the cooldown
 *   and at most 24 h (5 min without max-age), and refreshed in the background from the last
 *   tenth of that time or one `keyFetchTimeoutMs` before it ends, whichever starts earlier (but
 *   never within a cooldown of the last fetch), so that even a slow refresh lands in time.
 * - Stale while revalidating: requests never wait for keys while a key set is held. Past its
 *   max-age, and while refreshes are in flight or failing, the held set goes on verifying, for
 *   at most {@link MAX_KEY_STALENESS_MS} past its expiry; then it is dropped. A request waits
 *   for a fetch only when no key set is held (or for a kid the set lacks, see below).
 * - Each new set replaces the old one whole: a kid it dropped verifies nothing from then on,
 *   and listeners ({@link onKeysWithdrawn}) hear of it.
 * - One fetch in flight at a time, with its own timeout; concurrent callers share it.
 * - An unknown `kid` triggers a refetch only when the last fetch of any kind (the first load
 *   included) started at least one cooldown ago, however many arrive: a flood of made-up kids
 *   cannot turn into a flood of requests to Google. Google publishes a key before signing with
 *   it, so a kid missing from a key set fetched moments ago is almost surely made up.
 * - A failed refresh keeps the held keys (within the staleness bound; retried once per
 *   cooldown). With nothing held, a failed fetch is retried once per cooldown too: meanwhile
 *   `getKey()` rejects at once with `keys_unavailable`, and the failure is logged once.
 * - The body is read as a stream and abandoned past 1 MiB.
 */
export class JwksKeyStore extends SigningKeyStore implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('CloudRunAuth');
  private readonly log = new OperatorLog(this.logger);
  private readonly metrics: CloudRunAuthMetrics | undefined;
  private readonly flight = new SingleFlight<'jwks'>();
  private keys: Map<string, KeyObject> | undefined;
  /** Fresh until then (max-age); used until `staleUntil` at most. */
  private expiresAt = 0;
  private staleUntil = 0;
  /** When the background refresh is due; at most `expiresAt`. */
  private refreshAt = 0;
  private readonly withdrawnListeners: ((kids: readonly string[]) => void)[] = [];
  /** When the last fetch (of any kind) started; unknown kids and failed fetches wait a cooldown after it. */
  private lastFetchStartedAt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private lastFailureReason: JwksFailureReason = 'unreachable';

  /** @param telemetry where the fetch counter goes. @default none */
  constructor(
    private readonly options: JwksKeyStoreOptions,
    telemetry: CloudRunAuthTelemetry = CloudRunAuthTelemetry.off,
  ) {
    super();
    this.metrics = telemetry.metrics;
  }

  /** Whether a key set is held (past its max-age too, within the staleness bound, while refreshes fail). */
  get hasKeys(): boolean {
    return this.keys !== undefined && clock.now() < this.staleUntil;
  }

  /**
   * Calls `listener` with the kids a newly fetched key set no longer has, each time one drops
   * some: what was verified with them must not be vouched for any longer.
   */
  onKeysWithdrawn(listener: (kids: readonly string[]) => void): void {
    this.withdrawnListeners.push(listener);
  }

  async getKey(kid: string): Promise<KeyObject | undefined> {
    const held = this.heldKeys();
    if (!held) {
      // Nothing to verify with: the only case where a request waits for a fetch of the whole set.
      if (this.lastFetchFailed && clock.now() - this.lastFetchStartedAt < this.options.keyRefetchCooldownMs) {
        throw this.unavailable();
      }
      await this.refresh();
      const keys = this.keys;
      if (!keys) throw this.unavailable();
      return keys.get(kid);
    }
    const key = held.get(kid);
    if (key) return key;
    if (this.flight.has('jwks')) {
      // A refetch is already under way (maybe for this very kid, during a rotation): wait for it.
      await this.refresh();
      return this.keys?.get(kid);
    }
    if (clock.now() - this.lastFetchStartedAt < this.options.keyRefetchCooldownMs) return undefined;
    await this.refresh('unknown_kid');
    return this.keys?.get(kid);
  }

  /**
   * The key set requests may verify with now: fresh, or stale within the bound (then a refresh
   * is started unless one is in flight or a cooldown holds it back); `undefined` when there is
   * none, after dropping a set past the bound.
   */
  private heldKeys(): Map<string, KeyObject> | undefined {
    const keys = this.keys;
    if (keys === undefined) return undefined;
    const now = clock.now();
    // One comparison while the set is fresh: refreshAt <= expiresAt <= staleUntil.
    if (now >= this.refreshAt) {
      if (now >= this.staleUntil) {
        this.dropStaleKeys();
        return undefined;
      }
      this.refreshInBackground();
    }
    return keys;
  }

  private dropStaleKeys(): void {
    const { certsUrl } = this.options;
    const held = this.keys?.size ?? 0;
    this.keys = undefined;
    // Keys that only aged (nobody verified anything for a day) are dropped silently: the next fetch replaces them.
    if (!this.lastFetchFailed) return;
    this.log.report(
      `Dropped the ${held} signing key(s) from ${certsUrl}: no fetch has succeeded for ` +
        `${Math.round(MAX_KEY_STALENESS_MS / 3600_000)} h past their expiry; inbound tokens cannot be verified (503) until one does`,
      { certs_url: certsUrl, reason: this.lastFailureReason, keys_cached: 0 },
      { check: jwksFailureHint(this.lastFailureReason) },
    );
  }

  /** Aborts a fetch in flight, so that nothing of the store keeps the process alive. */
  beforeApplicationShutdown(): void {
    this.flight.abortAll(() => new TokenVerificationError('keys_unavailable', 'the application is shutting down'));
  }

  /** The same, for an application closed without `beforeApplicationShutdown`. */
  onApplicationShutdown(): void {
    this.beforeApplicationShutdown();
  }

  private unavailable(): TokenVerificationError {
    return new TokenVerificationError(
      'keys_unavailable',
      `no signing keys could be fetched from ${this.options.certsUrl}`,
    );
  }

  private refreshInBackground(): void {
    if (!this.flight.has('jwks') && clock.now() - this.lastFetchStartedAt >= this.options.keyRefetchCooldownMs) {
      void this.refresh();
    }
  }

  /** Fetches the key set unless a fetch is already in flight; never rejects. */
  private refresh(trigger: 'max_age' | 'unknown_kid' = 'max_age'): Promise<void> {
    const { keyFetchTimeoutMs, certsUrl } = this.options;
    if (!this.flight.has('jwks')) this.lastFetchStartedAt = clock.now();
    const cause: JwksFetchCause = this.lastFetchFailed ? 'retry' : this.keys ? trigger : 'initial';
    return this.flight
      .run(
        'jwks',
        (signal) =>
          this.fetchKeys(signal).then(
            () => this.metrics?.jwksFetched('ok', cause, certsUrl),
            (error: unknown) => {
              this.metrics?.jwksFetched('error', cause, certsUrl);
              throw error;
            },
          ),
        keyFetchTimeoutMs,
        () =>
          Object.assign(new Error(`no answer from ${certsUrl} within ${keyFetchTimeoutMs} ms`), {
            name: 'TimeoutError',
          }),
      )
      .then(
        () => {
          this.lastFetchFailed = false;
        },
        (error: unknown) => this.onFetchFailed(error),
      );
  }

  private async fetchKeys(signal: AbortSignal): Promise<void> {
    const { certsUrl, keyRefetchCooldownMs } = this.options;
    const response = await fetch(certsUrl, { headers: { accept: 'application/json' }, signal, redirect: 'error' });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    const keys = importJwks(await readCapped(response, MAX_BODY_BYTES), this.options.algorithm ?? 'RS256');
    const lifetime = cacheLifetimeMs(response.headers, keyRefetchCooldownMs);
    const now = clock.now();
    const previous = this.keys;
    this.keys = keys;
    this.expiresAt = now + lifetime;
    this.staleUntil = this.expiresAt + MAX_KEY_STALENESS_MS;
    // At least a fetch timeout ahead: a refresh that takes all of it still lands before expiry.
    const ahead = Math.max(lifetime * REFRESH_AHEAD_SHARE, this.options.keyFetchTimeoutMs);
    this.refreshAt = Math.min(
      this.expiresAt,
      Math.max(this.expiresAt - ahead, this.lastFetchStartedAt + keyRefetchCooldownMs),
    );
    const withdrawn = previous ? [...previous.keys()].filter((kid) => !keys.has(kid)) : [];
    if (withdrawn.length > 0) for (const listener of this.withdrawnListeners) listener(withdrawn);
  }

  private onFetchFailed(error: unknown): void {
    const { certsUrl, keyRefetchCooldownMs } = this.options;
    const reason = jwksFailureReason(error);
    this.lastFailureReason = reason;
    // Several callers share one failed fetch; it is reported once.
    if (this.lastFetchFailed && clock.now() - this.lastFetchStartedAt < keyRefetchCooldownMs) return;
    this.lastFetchFailed = true;
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const cause = { certs_url: certsUrl, reason, keys_cached: this.keys?.size ?? 0 };
    if (this.keys) {
      // Keep serving the keys we have (retried once per cooldown): Google rotates slowly, an outage must not fail requests.
      this.log.report(
        `Refreshing signing keys from ${certsUrl} failed (${why}); still using the ${this.keys.size} cached key(s), ` +
          `at most until ${new Date(this.staleUntil).toISOString()}`,
        cause,
        { check: jwksFailureHint(reason, error) },
      );
    } else {
      this.log.report(
        `Fetching signing keys from ${certsUrl} failed (${why}); inbound tokens cannot be verified (503) ` +
          `until a fetch succeeds; the next one in ${keyRefetchCooldownMs} ms at the earliest`,
        cause,
        { check: jwksFailureHint(reason, error) },
      );
    }
  }
}

/** The body as text, or an error as soon as it grows past `maxBytes`: a huge answer is never held whole. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error('response too large');
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > maxBytes) throw new Error('response too large');
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JWKS document into the verification keys of `algorithm` by kid; throws when none is usable. */
function importJwks(body: string, algorithm: JwksAlgorithm): Map<string, KeyObject> {
  const document: unknown = JSON.parse(body);
  const entries = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries)) throw new Error('not a JWKS document');
  const keys = new Map<string, KeyObject>();
  for (const jwk of entries as Record<string, unknown>[]) {
    if (jwk === null || typeof jwk !== 'object') continue;
    const { kid, alg, use } = jwk;
    if (typeof kid !== 'string' || kid === '' || keys.has(kid)) continue;
    if ((alg !== undefined && alg !== algorithm) || (use !== undefined && use !== 'sig')) continue;
    try {
      const key = importKey[algorithm](jwk);
      if (key) keys.set(kid, key);
    } catch {
      // An unusable entry must not take the others down with it.
    }
  }
  if (keys.size === 0) throw new Error(`no usable ${algorithm} key in the JWKS document`);
  return keys;
}

/** Per algorithm: the public key of a JWK when it is one of that algorithm's, else `undefined`. */
const importKey: Record<JwksAlgorithm, (jwk: Record<string, unknown>) => KeyObject | undefined> = {
  RS256({ kty, n, e }) {
    if (kty !== 'RSA' || typeof n !== 'string' || typeof e !== 'string') return undefined;
    const key = createPublicKey({ key: { kty, n, e }, format: 'jwk' });
    return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_MODULUS_BITS ? key : undefined;
  },
  ES256({ kty, crv, x, y }) {
    if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') return undefined;
    const key = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
    return key.asymmetricKeyDetails?.namedCurve === P256 ? key : undefined;
  },
};

function cacheLifetimeMs(headers: Headers, minimumMs: number): number {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(headers.get('cache-control') ?? '');
  const age = Number.parseInt(headers.get('age') ?? '0', 10);
  const ms = maxAge ? (Number(maxAge[1]) - (Number.isFinite(age) ? Math.max(age, 0) : 0)) * 1000 : DEFAULT_MAX_AGE_MS;
  return Math.min(Math.max(ms, minimumMs), MAX_CACHE_MS);
}
