import type { CallerAllowList } from './allowed-callers.matcher.js';

/**
 * Configuration of inbound verification (`inbound` in the module options).
 *
 * Secure by default: boot fails unless `allowedCallers` is non-empty or `allowAnyCaller` is
 * `true`. Route-level `@AllowedCallers()` does not count, because every route without it
 * (including ones added later, or all of them with `mount: true`) would then accept any
 * Google account: anyone can mint a Google-signed ID token for any audience.
 */
export interface InboundOptions {
  /**
   * Accepted `aud` values: the service URL (e.g. `https://orders-abc123-ew.a.run.app`), or the
   * full push/task URL for Pub/Sub push, Cloud Tasks and Cloud Scheduler, which use the target
   * URL (path included) as audience. A URL also matches with or without a trailing slash.
   */
  audience: string | string[];
  /**
   * Caller emails allowed on every guarded route without `@AllowedCallers()`: exact emails
   * (compared case-insensitively) or `*@PROJECT_ID.iam.gserviceaccount.com` for all service
   * accounts of one project. Nothing looser is accepted.
   * @default none (then `allowAnyCaller: true` is required)
   */
  allowedCallers?: string[];
  /**
   * Accept any caller with a valid token for this audience on routes without `@AllowedCallers()`.
   * Anyone with a Google account can obtain such a token; use only behind another access control.
   * Cannot be combined with `allowedCallers`.
   * @default false
   */
  allowAnyCaller?: boolean;
  /**
   * `verify` checks every signature against Google's keys. `cloud-run-iam` also accepts tokens
   * whose signature Cloud Run removed after checking them (`...SIGNATURE_REMOVED_BY_GOOGLE`),
   * on their claims alone. Only safe when the service is not publicly invokable (no `allUsers`
   * invoker): otherwise anyone can forge such a token.
   * @default 'verify'
   */
  mode?: 'verify' | 'cloud-run-iam';
  /** Register the guard globally (`APP_GUARD`); opt routes out with `@SkipCloudRunAuth()`. @default false */
  mount?: boolean;
  /** Leeway for `exp`, `iat` and `nbf`, in seconds (0 to 300). @default 30 */
  clockToleranceSeconds?: number;
  /** Google's JWKS endpoint. @default 'https://www.googleapis.com/oauth2/v3/certs' */
  certsUrl?: string;
  /** Largest accepted token header value, in bytes; larger ones are rejected unparsed. @default 8192 */
  maxHeaderBytes?: number;
  /**
   * Least time, in ms, from the last key fetch of any kind (first load included) to a refetch
   * caused by an unknown `kid`. @default 30000
   */
  keyRefetchCooldownMs?: number;
  /** Timeout of one JWKS fetch, in ms. @default 5000 */
  keyFetchTimeoutMs?: number;
  /** Entries of the verified-token LRU cache; 0 disables it. @default 1000 */
  verifiedTokenCacheSize?: number;
}

/** {@link InboundOptions} after validation, with defaults applied. */
export interface ResolvedInboundOptions {
  audience: string[];
  /** The module-level allow-list; `undefined` only with `allowAnyCaller`. */
  allowedCallers: CallerAllowList | undefined;
  allowAnyCaller: boolean;
  mode: 'verify' | 'cloud-run-iam';
  mount: boolean;
  clockToleranceSeconds: number;
  certsUrl: string;
  maxHeaderBytes: number;
  keyRefetchCooldownMs: number;
  keyFetchTimeoutMs: number;
  verifiedTokenCacheSize: number;
}
