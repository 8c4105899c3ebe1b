import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { decodeJwt } from '../../shared/jwt/jwt.codec.js';
import { IdTokenProvider } from './id-token.provider.js';
import {
  resolveIdTokenCacheOptions,
  type IdTokenCacheOptions,
  type ResolvedIdTokenCacheOptions,
} from './id-token-cache.options.js';

interface Entry {
  token?: string;
  /** ms epoch after which the token is not handed out any more. */
  usableUntil: number;
  /** ms epoch from which a background refresh starts. */
  refreshAt: number;
  inflight?: Promise<string>;
  /** ms epoch before which a failed background refresh is not retried. */
  retryAfter: number;
}

/** After a failed background refresh, wait this long before the next one (the cached token is still served). */
const BACKGROUND_RETRY_COOLDOWN_MS = 5000;
/** How long an aborted provider may take to reject with its own error before a generic timeout is reported. */
const ABORT_GRACE_MS = 20;

/**
 * The process's ID-token cache: one entry per (provider, audience), shared by every
 * `ServiceClient`. Single-flight (concurrent misses share one fetch), refresh-ahead (inside
 * the refresh window the cached token is served while one background fetch runs), expiry read
 * from the token's own `exp`, and retries with jittered exponential backoff within a deadline.
 * Inject it to put ID tokens on calls the module does not make (gRPC, fetch).
 */
export class IdTokenCache {
  private readonly logger = new Logger('CloudRunAuth');
  private readonly entries = new Map<IdTokenProvider, Map<string, Entry>>();
  private readonly options: ResolvedIdTokenCacheOptions;

  /** @throws CloudRunAuthConfigError when `options` are invalid (fields named `tokenCache.*`). */
  constructor(
    private readonly provider: IdTokenProvider,
    options: IdTokenCacheOptions = {},
  ) {
    this.options = resolveIdTokenCacheOptions(options);
  }

  /**
   * A valid ID token for `audience`: cached when possible, else fetched once for all waiters.
   * Rejects with {@link IdTokenFetchError} when none can be had within `deadlineMs`.
   */
  getToken(audience: string, provider: IdTokenProvider = this.provider): Promise<string> {
    const entry = this.entryFor(provider, audience);
    const now = Date.now();
    if (entry.token !== undefined && now < entry.usableUntil) {
      if (now >= entry.refreshAt && !entry.inflight && now >= entry.retryAfter) {
        this.refresh(entry, provider, audience).catch((error: IdTokenFetchError) => {
          entry.retryAfter = Date.now() + BACKGROUND_RETRY_COOLDOWN_MS;
          this.logger.warn(
            `Background ID-token refresh for ${audience} failed; serving the cached token ` +
              `(valid ${Math.round((entry.usableUntil - Date.now()) / 1000)} s more): ${error.message}`,
          );
        });
      }
      return Promise.resolve(entry.token);
    }
    return entry.inflight ?? this.refresh(entry, provider, audience);
  }

  /**
   * Drops `token` for `audience` if it is the cached one (for example after the target
   * answered 401), so that the next {@link getToken} fetches a new one.
   */
  invalidate(audience: string, token: string, provider: IdTokenProvider = this.provider): void {
    const entry = this.entries.get(provider)?.get(audience);
    if (entry?.token === token) {
      entry.token = undefined;
      entry.usableUntil = 0;
    }
  }

  private entryFor(provider: IdTokenProvider, audience: string): Entry {
    let byAudience = this.entries.get(provider);
    if (!byAudience) this.entries.set(provider, (byAudience = new Map<string, Entry>()));
    let entry = byAudience.get(audience);
    if (!entry) byAudience.set(audience, (entry = { usableUntil: 0, refreshAt: 0, retryAfter: 0 }));
    return entry;
  }

  private refresh(entry: Entry, provider: IdTokenProvider, audience: string): Promise<string> {
    const inflight = this.fetchWithRetry(provider, audience).then((token) => {
      this.store(entry, token, audience);
      return token;
    });
    entry.inflight = inflight;
    const clear = () => {
      if (entry.inflight === inflight) entry.inflight = undefined;
    };
    inflight.then(clear, clear);
    return inflight;
  }

  private store(entry: Entry, token: string, audience: string): void {
    const payload = decodeJwt(token)!.payload;
    const exp = (payload.exp as number) * 1000;
    const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : Date.now();
    const lifetime = Math.max(exp - iat, 0);
    const window = Math.min(this.options.refreshWindowSeconds * 1000, lifetime / 2);
    entry.token = token;
    // Stop handing a token out shortly before `exp` so that it cannot expire in flight.
    entry.usableUntil = exp - Math.min(10_000, lifetime / 10);
    entry.refreshAt = exp - window;
    entry.retryAfter = 0;
    if (entry.usableUntil <= Date.now()) {
      this.logger.warn(`The ID token fetched for ${audience} is already expired (check the clock)`);
    }
  }

  private async fetchWithRetry(provider: IdTokenProvider, audience: string): Promise<string> {
    const { timeoutMs, deadlineMs, initialBackoffMs, maxBackoffMs } = this.options;
    const deadline = Date.now() + deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      let failure: IdTokenFetchError;
      try {
        return checkToken(await attemptFetch(provider, audience, Math.min(timeoutMs, remaining)), audience);
      } catch (error) {
        failure = toFetchError(error, audience);
      }
      const delay = Math.random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt);
      if (!failure.retryable || Date.now() + delay >= deadline) {
        throw new IdTokenFetchError(
          `Could not obtain an ID token for audience ${audience} after ${attempt + 1} attempt(s): ${failure.message}`,
          audience,
          failure.retryable,
          { cause: failure.cause ?? failure },
        );
      }
      await sleep(delay);
    }
  }
}

/**
 * One provider call, bounded by `timeoutMs` even if the provider ignores its abort signal.
 * On timeout the provider gets a moment to reject with its own, more specific error.
 */
async function attemptFetch(provider: IdTokenProvider, audience: string, timeoutMs: number): Promise<string> {
  const controller = new AbortController();
  const call = provider.getIdToken(audience, { signal: controller.signal });
  call.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        controller.abort();
        const generic = new IdTokenFetchError(`timed out after ${timeoutMs} ms`, audience, true);
        const grace = sleep(ABORT_GRACE_MS).then(() => Promise.reject(generic));
        Promise.race([call, grace]).then(
          () => reject(generic),
          (error: unknown) => reject(error instanceof IdTokenFetchError ? error : generic),
        );
      },
      Math.max(timeoutMs, 1),
    );
  });
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function checkToken(token: unknown, audience: string): string {
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

function toFetchError(error: unknown, audience: string): IdTokenFetchError {
  if (error instanceof IdTokenFetchError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new IdTokenFetchError(`token provider failed: ${message}`, audience, true, { cause: error });
}
