/** Google's JWKS endpoint for ID-token signing keys. */
export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/** Options both verifiers take: `IdTokenVerifier` (Google ID tokens) and `IapAssertionVerifier`. */
export interface SignedJwtVerifierOptions {
  /** Leeway for `exp`, `iat` and `nbf`, in seconds (0 to 300). @default 30 */
  clockToleranceSeconds?: number;
  /** Entries of the verified-token LRU (a hit needs the very same token; valid until `exp`); 0 disables it. @default 1000 */
  verifiedTokenCacheSize?: number;
  /** JWKS endpoint of the default key store. @default the issuer's own */
  certsUrl?: string;
  /** Timeout of one JWKS fetch, in ms. @default 5000 */
  keyFetchTimeoutMs?: number;
  /**
   * Least time, in ms, from the last JWKS fetch of any kind (first load included) to a refetch
   * caused by an unknown `kid`. @default 30000
   */
  keyRefetchCooldownMs?: number;
}

/**
 * Options of {@link IdTokenVerifier}. The module's `inbound` options extend these: each is
 * declared, defaulted and validated here once.
 */
export interface IdTokenVerifierOptions extends SignedJwtVerifierOptions {
  /**
   * Accepted `aud` values. A URL audience also matches with or without a trailing slash
   * (unless it has a query or fragment); everything else must match exactly.
   */
  audience: string | string[];
  /**
   * `verify` checks every signature. `cloud-run-iam` additionally accepts tokens whose
   * signature Cloud Run removed after checking it (`...SIGNATURE_REMOVED_BY_GOOGLE`), on their
   * claims alone: only safe when the service cannot be invoked without IAM (no `allUsers`
   * invoker, ingress not bypassing Cloud Run), because anyone can forge such a token otherwise.
   * @default 'verify'
   */
  mode?: 'verify' | 'cloud-run-iam';
  /**
   * Reject tokens without an `email` claim or with `email_verified` not `true`
   * (`missing_email` / `email_not_verified`). Needed whenever callers are matched by email.
   * The module's verifier (the guard's) has it off: the guard refuses such callers itself, with
   * a 403, where an allow-list cannot match them.
   * @default true
   */
  requireVerifiedEmail?: boolean;
  /** JWKS endpoint of the default key store. @default 'https://www.googleapis.com/oauth2/v3/certs' */
  certsUrl?: string;
}

/** {@link SignedJwtVerifierOptions} and the audiences, after validation, with defaults applied (frozen). */
export interface ResolvedSignedJwtVerifierOptions {
  /** The configured audiences, as given (deduplicated). */
  readonly audiences: readonly string[];
  /** Every accepted `aud` string (for ID tokens, trailing-slash variants included). */
  readonly acceptedAudiences: ReadonlySet<string>;
  readonly clockToleranceSeconds: number;
  readonly verifiedTokenCacheSize: number;
  readonly certsUrl: string;
  readonly keyFetchTimeoutMs: number;
  readonly keyRefetchCooldownMs: number;
}

/**
 * {@link IdTokenVerifierOptions} after validation, with defaults applied (frozen). In the module's
 * inbound options, `audiences` is empty when the service accepts IAP assertions only.
 */
export interface ResolvedVerifierOptions extends ResolvedSignedJwtVerifierOptions {
  readonly mode: 'verify' | 'cloud-run-iam';
  readonly requireVerifiedEmail: boolean;
}
