import { IncomingMessage } from 'node:http';
import { clock } from '../../shared/clock.js';
import type { CallerAllowList } from '../allowed-callers.matcher.js';
import { setCallerIdentity } from '../caller-identity.store.js';
import type { InboundTelemetry } from '../inbound.telemetry.js';
import type { CallerIdentity } from '../verifier/caller-identity.interface.js';
import { IapAssertionVerifier } from '../verifier/iap-assertion.verifier.js';
import { IdTokenVerifier } from '../verifier/id-token.verifier.js';
import type { VerifiedTokenCache } from '../verifier/verified-token.cache.js';

/** One verified-token cache hit in this many is timed for `inbound.verify.duration` (`cached: true`). */
export const TIMED_LOOKUP_INTERVAL = 64;

/** Where the credentials of `Bearer <token>`, as every client spells it, start. */
const BEARER_OFFSET = 7;

// Compared by identity only, never called: tells whether a subclass replaced verify() (of either verifier).
/* eslint-disable @typescript-eslint/unbound-method */
const stockIdTokenVerify = IdTokenVerifier.prototype.verify;
const stockIapVerify = IapAssertionVerifier.prototype.verify;
/* eslint-enable @typescript-eslint/unbound-method */

/** What is read of the ID-token and IAP verifiers alike. */
type CachingVerifier = Pick<IdTokenVerifier | IapAssertionVerifier, 'verify'> & {
  readonly verification: { readonly verifiedTokens: VerifiedTokenCache<CallerIdentity> };
};

/**
 * The guard's fast path, all of it in this one place: the decision for a token this process has
 * verified before, from a caller the route allowed before. A service-to-service caller reuses
 * one token for up to an hour (Google's clients cache it), so nearly every request is such a
 * repeat; answering it must cost next to nothing beside the framework's own work per request.
 * What that costs and how it was measured: BENCHMARKS.md, "Guard".
 *
 * - The token is looked up inside the header value, where `Bearer ` ends, without slicing it
 *   out; any other spelling of the scheme is a miss, and goes the full way.
 * - The verified-token cache is the verifier's own: a verifier whose `verify()` a subclass
 *   replaced is never answered from it, since that would skip the subclass' checks.
 * - An identity's pass of an allow-list is remembered (the last list it passed), for the stock
 *   `checkCaller()` only: an overridden one decides by more than identity and list.
 * - One hit in {@link TIMED_LOOKUP_INTERVAL} is timed, when metrics are recorded: recording a
 *   duration costs more than a hit; every decision is still counted.
 * - The identity goes where `@Caller()` reads it, by the cheaper route for the kind of request
 *   object (decided once per prototype, see `setCallerIdentity`).
 *
 * One per guard instance: nothing here is shared between guards.
 */
export class CachedDecision {
  /** The last allow-list each identity passed. */
  private readonly passes = new WeakMap<CallerIdentity, CallerAllowList>();
  /** `telemetry` when it records metrics, else `null`: an allowed request then reads nothing of it. */
  private readonly metrics: InboundTelemetry | null;
  /** Cache hits left before the next one is timed. */
  private hitsUntilTimed = 0;
  private lastPrototype: unknown = null;
  private lastIsNodeRequest = false;

  /**
   * @param rememberPasses whether allow-list passes may be remembered (the stock `checkCaller()`).
   * @param telemetry the guard's telemetry, if any.
   */
  constructor(
    private readonly rememberPasses: boolean,
    telemetry: InboundTelemetry | null | undefined,
  ) {
    this.metrics = telemetry?.recordsMetrics ? telemetry : null;
  }

  /** The identity of the token in `Bearer <token>` header value `value`, if `verifier` has it cached. */
  ofBearerHeader(verifier: CachingVerifier, value: string): CallerIdentity | undefined {
    return value.startsWith('Bearer ') ? this.lookup(verifier, value, BEARER_OFFSET) : undefined;
  }

  /** The identity of a bare token (an IAP assertion), if `verifier` has it cached. */
  ofToken(verifier: CachingVerifier, token: string): CallerIdentity | undefined {
    return this.lookup(verifier, token, 0);
  }

  /** Whether `identity` passed `allowList` before, so that the check can be skipped. */
  passedBefore(identity: CallerIdentity, allowList: CallerAllowList): boolean {
    return this.rememberPasses && this.passes.get(identity) === allowList;
  }

  /** Records that `identity` passed `allowList` (compiled lists never change). */
  passed(identity: CallerIdentity, allowList: CallerAllowList): void {
    if (this.rememberPasses) this.passes.set(identity, allowList);
  }

  /** Counts an allowed request and keeps its identity on `request`, for `@Caller()`. */
  allowed(request: object, identity: CallerIdentity): void {
    this.metrics?.allowed(identity);
    const prototype: unknown = Object.getPrototypeOf(request);
    if (prototype !== this.lastPrototype) {
      // `instanceof` walks Express' long prototype chain: asked once per kind of request object.
      this.lastIsNodeRequest = request instanceof IncomingMessage;
      this.lastPrototype = prototype;
    }
    setCallerIdentity(request, identity, this.lastIsNodeRequest);
  }

  private lookup(verifier: CachingVerifier, text: string, offset: number): CallerIdentity | undefined {
    const verify: unknown = verifier.verify;
    if (verify !== stockIdTokenVerify && verify !== stockIapVerify) return undefined;
    const metrics = this.metrics;
    let started: number | undefined;
    if (metrics !== null && this.hitsUntilTimed-- <= 0) started = metrics.start();
    const identity = verifier.verification.verifiedTokens.get(text, clock.now(), offset);
    if (identity === undefined) {
      // Only hits are sampled: a miss goes on to a verification, timed in full.
      if (started !== undefined) this.hitsUntilTimed = 0;
      return undefined;
    }
    if (started !== undefined) {
      this.hitsUntilTimed = TIMED_LOOKUP_INTERVAL - 1;
      metrics!.verified(started, true);
    }
    return identity;
  }
}
