import type { SigningKeyStore } from '../keys/signing-key.store.js';

/** Google's JWKS endpoint for ID-token signing keys. */
export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/** Options of {@link IdTokenVerifier}; the inbound module options map onto these. */
export interface IdTokenVerifierOptions {
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
  /** Leeway for `exp`, `iat` and `nbf`, in seconds (0 to 300). @default 30 */
  clockToleranceSeconds?: number;
  /**
   * Reject tokens without an `email` claim or with `email_verified` not `true`
   * (`missing_email` / `email_not_verified`). Needed whenever callers are matched by email.
   * @default true
   */
  requireVerifiedEmail?: boolean;
  /** Entries of the verified-token LRU (a hit needs the very same token; valid until `exp`); 0 disables it. @default 1000 */
  verifiedTokenCacheSize?: number;
  /** JWKS endpoint, used when no `keyStore` is given. @default 'https://www.googleapis.com/oauth2/v3/certs' */
  certsUrl?: string;
  /** Timeout of one JWKS fetch, in ms. @default 5000 */
  keyFetchTimeoutMs?: number;
  /**
   * Least time, in ms, from the last JWKS fetch of any kind (first load included) to a refetch
   * caused by an unknown `kid`. @default 30000
   */
  keyRefetchCooldownMs?: number;
  /** Where keys come from. @default a `JwksKeyStore` on `certsUrl` */
  keyStore?: SigningKeyStore;
  /** Clock in ms since the epoch (tests). @default Date.now */
  now?: () => number;
}

/** {@link IdTokenVerifierOptions} after validation, with defaults applied. */
export interface ResolvedVerifierOptions {
  /** The configured audiences, as given (deduplicated). */
  audiences: readonly string[];
  /** Every accepted `aud` string, trailing-slash variants included. */
  acceptedAudiences: ReadonlySet<string>;
  mode: 'verify' | 'cloud-run-iam';
  clockToleranceSeconds: number;
  requireVerifiedEmail: boolean;
  verifiedTokenCacheSize: number;
  certsUrl: string;
  keyFetchTimeoutMs: number;
  keyRefetchCooldownMs: number;
}
