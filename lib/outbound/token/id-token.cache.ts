import { Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { SingleFlight, sleep, waitFor } from '../../shared/single-flight.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { decodeJwt } from '../../shared/jwt/jwt.codec.js';
import { CloudRunAuthTelemetry, type CloudRunAuthMetrics } from '../../shared/telemetry/cloud-run-auth.telemetry.js';
import { attemptFetch, toFetchError } from './id-token.fetch.js';
import { IdTokenProvider } from './id-token.provider.js';
import { TokenFetchObserver } from './token-fetch.observer.js';
import {
  resolveIdTokenCacheOptions,
  type IdTokenCacheOptions,
  type ResolvedIdTokenCacheOptions,
} from './id-token-cache.options.js';

/** Options of {@link IdTokenCache.getToken}: which identity, and how long this caller waits. */
export interface GetIdTokenOptions {
  /** Aborting it rejects this caller's wait at once, with the signal's reason. @default none */
  signal?: AbortSignal;
  /** Most time this caller waits, in ms. @default the cache's `deadlineMs` */
  timeoutMs?: number;
  /** The identity that mints the token. @default the module's `IdTokenProvider` */
  provider?: IdTokenProvider;
  /** Name of the client the token is for: the `service` of metrics and operator logs. @default none */
  service?: string;
}

/**
 * A token as the cache handed it out; a 401 to a request that carried it is reported with it.
 * @internal
 */
export interface IdTokenLease {
  readonly token: string;
  /** ms epoch after which the token is not handed out any more. */
  readonly usableUntil: number;
  /** ms epoch from which a background refresh starts. */
  readonly refreshAt: number;
}

interface Entry {
  readonly audience: string;
  lease?: IdTokenLease;
  /** ms epoch before which a failed background refresh is not retried. */
  retryAfter: number;
  /** The last background refresh failed: the cached token is served stale. */
  refreshFailed: boolean;
  /** ms epoch until which a 401 from the target invalidates nothing (the target rejects fresh tokens too). */
  rejectedUntil: number;
  lastUsed: number;
}

/** After a failed background refresh, wait this long before the next one (the cached token is still served). */
const BACKGROUND_RETRY_COOLDOWN_MS = 5000;
/** After a fresh token was rejected too, 401s leave the cache alone this long. */
const REJECTION_WINDOW_MS = 30_000;
/** Entries unused, and expired, for this long are dropped; looked for at most once per interval. */
const EVICT_AFTER_MS = 3_600_000;
const SWEEP_INTERVAL_MS = 60_000;
/** The shared fetch is abandoned this long after its own deadline, should a provider ignore its signal. */
const DEADLINE_GRACE_MS = 100;

/**
 * The application's ID-token cache: one entry per (identity, audience), shared by every
 * `ServiceClient`. Single-flight (concurrent misses share one fetch), refresh-ahead (inside
 * the refresh window the cached token is served while one background fetch runs), expiry read
 * from the token's own `exp`, and retries with jittered exponential backoff within a deadline.
 * Each caller waits on its own terms (`signal`, `timeoutMs`) without cancelling the others.
 * Inject it to put ID tokens on calls the module does not make (`fetch`, other HTTP clients);
 * gRPC services get credentials built on it (`transport: 'grpc'`).
 */
export class IdTokenCache implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('CloudRunAuth');
  private readonly entries = new Map<IdTokenProvider, Map<string, Entry>>();
  private readonly flights = new SingleFlight<Entry>();
  private readonly options: ResolvedIdTokenCacheOptions;
  private readonly metrics: CloudRunAuthMetrics | undefined;
  private readonly observer: TokenFetchObserver;
  private lastSweep = Date.now();
  private closed = false;

  /**
   * A cache built by hand records no metrics or spans (its failures are still logged for operators).
   * @param provider the identity of `getToken()` calls that name none.
   * @throws CloudRunAuthConfigError when `options` are invalid (fields named `tokenCache.*`).
   */
  constructor(provider: IdTokenProvider, options?: IdTokenCacheOptions);
  /**
   * @param telemetry where metrics and spans go: the module passes the application's.
   * @internal
   */
  constructor(provider: IdTokenProvider, options?: IdTokenCacheOptions, telemetry?: CloudRunAuthTelemetry);
  constructor(
    private readonly provider: IdTokenProvider,
    options: IdTokenCacheOptions = {},
    telemetry: CloudRunAuthTelemetry = CloudRunAuthTelemetry.off,
  ) {
    this.options = resolveIdTokenCacheOptions(options);
    this.metrics = telemetry.metrics;
    this.observer = new TokenFetchObserver(telemetry, this.logger, () => this.closed);
  }

  /**
   * A valid ID token for `audience`: cached when possible, else fetched once for all waiters.
   * Rejects with {@link IdTokenFetchError} when none can be had within `deadlineMs` (or this
   * caller's `timeoutMs`), and with the signal's reason when `signal` aborts.
   * @param options the identity and this caller's limits; an `IdTokenProvider` alone is accepted too.
   */
  async getToken(audience: string, options: GetIdTokenOptions | IdTokenProvider = {}): Promise<string> {
    return (await this.lease(audience, options instanceof IdTokenProvider ? { provider: options } : options)).token;
  }

  /**
   * Drops `token` for `audience` if it is the cached one (for example after the target
   * answered 401), so that the next {@link getToken} fetches a new one.
   */
  invalidate(audience: string, token: string, provider: IdTokenProvider = this.provider): void {
    const entry = this.entries.get(provider)?.get(audience);
    if (entry?.lease?.token === token) entry.lease = undefined;
  }

  /**
   * {@link getToken}, with the lease a 401 is reported with ({@link reportRejected}).
   * @internal
   */
  lease(
    audience: string,
    { provider = this.provider, service, ...wait }: GetIdTokenOptions = {},
  ): Promise<IdTokenLease> {
    if (this.closed) return Promise.reject(shutdownError(audience));
    const now = Date.now();
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweep(now);
    const entry = this.entryFor(provider, audience);
    entry.lastUsed = now;
    const { lease } = entry;
    if (lease !== undefined && now < lease.usableUntil) {
      if (now < lease.refreshAt) this.metrics?.lookup('hit', service, audience);
      else {
        this.metrics?.lookup(entry.refreshFailed ? 'stale_served' : 'refresh_ahead', service, audience);
        if (now >= entry.retryAfter && !this.flights.has(entry)) this.refreshInBackground(entry, provider, service);
      }
      return Promise.resolve(lease);
    }
    this.metrics?.lookup('miss', service, audience);
    const timedOut = () =>
      new IdTokenFetchError(`no ID token for audience ${audience} within ${wait.timeoutMs} ms`, audience, true);
    return waitFor(this.refresh(entry, provider, service), wait, timedOut);
  }

  /**
   * The token cached for `audience` if it is still handed out, without fetching, refreshing or
   * counting a use (for health checks); `undefined` otherwise.
   * @internal
   */
  peek(audience: string, provider: IdTokenProvider = this.provider): IdTokenLease | undefined {
    const lease = this.entries.get(provider)?.get(audience)?.lease;
    return lease !== undefined && Date.now() < lease.usableUntil ? lease : undefined;
  }

  /**
   * Reports that the target answered 401 to a request that carried `lease`. Returns whether a
   * replay with a fresh token is worth it: `true` the first time (the lease is dropped); `false`
   * when `replayed` (the fresh token was rejected too: the audience enters a window in which 401s
   * drop nothing, so an always-401 target costs no fetch per request) or inside that window.
   * @internal
   */
  reportRejected(
    audience: string,
    lease: IdTokenLease,
    replayed: boolean,
    provider: IdTokenProvider = this.provider,
    service?: string,
  ): boolean {
    const entry = this.entryFor(provider, audience);
    const now = Date.now();
    if (replayed) {
      entry.rejectedUntil = now + REJECTION_WINDOW_MS;
      return false;
    }
    if (now < entry.rejectedUntil) return false;
    if (entry.lease === lease) entry.lease = undefined;
    this.metrics?.retried(service, audience);
    return true;
  }

  /** Aborts fetches in flight, so that requests waiting for a token end and the server can drain. */
  beforeApplicationShutdown(): void {
    this.closed = true;
    this.flights.abortAll((entry) => shutdownError(entry.audience));
  }

  /** The same, for an application closed without `beforeApplicationShutdown` (e.g. a test module). */
  onApplicationShutdown(): void {
    this.beforeApplicationShutdown();
  }

  private entryFor(provider: IdTokenProvider, audience: string): Entry {
    let byAudience = this.entries.get(provider);
    if (!byAudience) this.entries.set(provider, (byAudience = new Map<string, Entry>()));
    let entry = byAudience.get(audience);
    if (!entry) {
      entry = { audience, retryAfter: 0, refreshFailed: false, rejectedUntil: 0, lastUsed: 0 };
      byAudience.set(audience, entry);
    }
    return entry;
  }

  private refresh(entry: Entry, provider: IdTokenProvider, service: string | undefined): Promise<IdTokenLease> {
    const { deadlineMs } = this.options;
    const { audience, lease } = entry;
    const labels = { service, audience, provider, servingUntil: lease && lease.usableUntil };
    return this.flights.run(
      entry,
      async (signal) => {
        const token = await this.observer.observe(labels, () => this.fetchWithRetry(provider, audience, signal));
        entry.refreshFailed = false;
        return (entry.lease = this.toLease(token, audience));
      },
      deadlineMs + DEADLINE_GRACE_MS,
      () =>
        new IdTokenFetchError(
          `Could not obtain an ID token for audience ${entry.audience} within ${deadlineMs} ms`,
          entry.audience,
          true,
        ),
    );
  }

  /** A failure is logged by the observer; the cached token is served until it expires. */
  private refreshInBackground(entry: Entry, provider: IdTokenProvider, service: string | undefined): void {
    this.refresh(entry, provider, service).catch(() => {
      entry.retryAfter = Date.now() + BACKGROUND_RETRY_COOLDOWN_MS;
      entry.refreshFailed = true;
    });
  }

  private toLease(token: string, audience: string): IdTokenLease {
    const payload = decodeJwt(token)!.payload;
    const exp = (payload.exp as number) * 1000;
    const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : Date.now();
    const lifetime = Math.max(exp - iat, 0);
    const window = Math.min(this.options.refreshWindowSeconds * 1000, lifetime / 2);
    // Stop handing a token out shortly before `exp` so that it cannot expire in flight.
    const lease = { token, usableUntil: exp - Math.min(10_000, lifetime / 10), refreshAt: exp - window };
    if (lease.usableUntil <= Date.now()) {
      this.logger.warn(`The ID token fetched for ${audience} is already expired (check the clock)`);
    }
    return Object.freeze(lease);
  }

  private async fetchWithRetry(provider: IdTokenProvider, audience: string, signal: AbortSignal): Promise<string> {
    const { timeoutMs, deadlineMs, initialBackoffMs, maxBackoffMs } = this.options;
    const deadline = Date.now() + deadlineMs;
    let previous: IdTokenFetchError | undefined;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      let failure: IdTokenFetchError;
      try {
        return await attemptFetch(provider, audience, Math.min(timeoutMs, remaining), signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        failure = toFetchError(error, audience);
      }
      const delay = Math.random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt);
      if (!failure.retryable || Date.now() + delay >= deadline) {
        // An attempt the deadline cut short says less than the failure before it.
        const reported = remaining < timeoutMs && previous ? previous : failure;
        throw new IdTokenFetchError(
          `Could not obtain an ID token for audience ${audience} after ${attempt + 1} attempt(s): ${reported.message}`,
          audience,
          failure.retryable,
          { cause: reported.cause ?? reported },
        );
      }
      previous = failure;
      await sleep(delay, signal);
    }
  }

  /** Drops entries nobody asked for since long after their token expired. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [provider, byAudience] of this.entries) {
      for (const [audience, entry] of byAudience) {
        const idleSince = Math.max(entry.lastUsed, entry.lease?.usableUntil ?? 0, entry.rejectedUntil);
        if (now - idleSince > EVICT_AFTER_MS && !this.flights.has(entry)) byAudience.delete(audience);
      }
      if (byAudience.size === 0) this.entries.delete(provider);
    }
  }
}

function shutdownError(audience: string): IdTokenFetchError {
  return new IdTokenFetchError('the application is shutting down', audience, false);
}
