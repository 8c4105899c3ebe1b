import type { InboundRejection } from '../../inbound/guard/inbound-rejection.js';
import type { InboundOptions } from '../../inbound/inbound.options.js';
import type { TokenSummary } from './token.summary.js';

/** Options of `diagnoseToken()`: the service's configuration, as the module takes it. */
export interface TokenDiagnosisOptions {
  /** The service's `inbound` options, exactly as given to `CloudRunAuthModule` (validated by the module's rules). */
  inbound: InboundOptions;
  /**
   * The entries of a route's `@AllowedCallers()`, which replace `inbound.allowedCallers` on that route.
   * @default none (the module's list applies)
   */
  routeAllowedCallers?: readonly string[];
  /**
   * The URL callers call the service at. With it, a token for that URL that the service refuses
   * is told apart as the service verifying another audience. @default unknown
   */
  url?: string;
}

/** The claim that made the guard refuse: its name, what the token has, and what would pass. */
export interface FailedClaim {
  /** A payload claim (`aud`, `exp`, `email`, …) or a header field (`alg`, `kid`). */
  claim: string;
  received: unknown;
  expected: unknown;
}

/** How the allow-list judged a valid token's caller. */
export interface CallerDecision {
  email: string | undefined;
  subject: string;
  /** Whose list decided: a route's `@AllowedCallers()`, the module's `inbound.allowedCallers`, or none (`allowAnyCaller`). */
  allowList: 'route' | 'module' | 'none';
  /** Its entries, as compiled. */
  entries: readonly string[];
  allowed: boolean;
}

/**
 * What `CloudRunAuthGuard` would do with a token, and why: the decision with the guard's own
 * reason code, the failing claim, and one cause and one next step. Never holds the token or its
 * signature.
 */
export interface TokenDiagnosis {
  /** Whether the guard would let the request through to the route. */
  accepted: boolean;
  /** The guard's answer: 200 (through to the handler), 401, 403, or 503 when the signing keys cannot be had. */
  status: 200 | 401 | 403 | 503;
  /** The guard's reason code, as in its log (`reason=…`); `undefined` when accepted. */
  reason: InboundRejection['reason'] | undefined;
  /** The verifier's or the allow-list's detail, as the guard logs it. */
  detail: string | undefined;
  token: TokenSummary;
  failedClaim: FailedClaim | undefined;
  /** The allow-list's judgement, once the token itself is valid. */
  caller: CallerDecision | undefined;
  /**
   * Where the fix belongs: the `caller` (the token it sends), the `service` (its configuration),
   * or `keys` (the signing keys could not be fetched from here); `undefined` when accepted.
   */
  fixOn: 'caller' | 'service' | 'keys' | undefined;
  /** Why, in one sentence. */
  cause: string;
  /** The one thing to do about it. */
  nextStep: string;
}
