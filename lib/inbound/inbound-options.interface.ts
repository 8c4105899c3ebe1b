import type { ExecutionContext, Type } from '@nestjs/common';
import type { CloudRunAuthGuard } from './guard/cloud-run-auth.guard.js';
import type { IapAssertionVerifierOptions } from './verifier/iap-options.interface.js';
import type { IdTokenVerifierOptions } from './verifier/verifier-options.interface.js';

/** `inbound.iap`: accept the signed assertions of Identity-Aware Proxy. */
export type InboundIapOptions = Pick<IapAssertionVerifierOptions, 'audience' | 'certsUrl'>;

/**
 * Configuration of inbound verification (`inbound` in the module options): the verifier's
 * options (`audience`, `mode`, `certsUrl`, ...), IAP's (`iap`), plus who may call and how the
 * guard is mounted. At least one of `audience` (Google ID tokens) and `iap` is required.
 *
 * Secure by default: boot fails unless `allowedCallers` is non-empty or `allowAnyCaller` is
 * `true`. Route-level `@AllowedCallers()` does not count, because every route without it
 * (including ones added later, or all of them with `mount`) would then accept any
 * Google account: anyone can mint a Google-signed ID token for any audience.
 */
export interface InboundOptions extends Omit<IdTokenVerifierOptions, 'requireVerifiedEmail' | 'audience'> {
  /**
   * Accepted `aud` values of Google ID tokens (`Authorization` / `X-Serverless-Authorization`).
   * A URL audience also matches with or without a trailing slash (unless it has a query or
   * fragment); everything else must match exactly.
   * @default none: required unless `iap` is set (then only IAP assertions are accepted)
   */
  audience?: string | string[];
  /**
   * Accept the signed assertion of Identity-Aware Proxy (`x-goog-iap-jwt-assertion`, ES256,
   * issuer `https://cloud.google.com/iap`) for `iap.audience`: `/projects/NUMBER/locations/REGION/services/NAME`
   * or `/projects/NUMBER/global/backendServices/ID`. A request that carries one is judged by it
   * alone (an invalid one is a 401, never a fallback to an ID token); the unsigned
   * `x-goog-authenticated-user-*` headers are never read. `iap.certsUrl` defaults to IAP's keys,
   * `https://www.gstatic.com/iap/verify/public_key-jwk`; the other key and cache options apply to both.
   * @default none (IAP assertions are not accepted)
   */
  iap?: InboundIapOptions;
  /**
   * Callers allowed on every guarded route without `@AllowedCallers()`: exact emails (ASCII only,
   * compared ASCII case-insensitively, as Google does), `*@PROJECT_ID.iam.gserviceaccount.com` for
   * all service accounts of one project, for callers that come through IAP only `*@DOMAIN` for all
   * users of a domain, and for ID-token callers `sub:UNIQUE_ID` (the digits of the token's `sub`,
   * which matches with or without email). Nothing looser is accepted. A valid token that matches
   * no entry, or has no verified email to match, is refused with 403.
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
   * Guard every route (`APP_GUARD`); opt routes out with `@SkipCloudRunAuth()`. `true` mounts
   * `CloudRunAuthGuard`; a subclass of it (`mount: AuditedGuard`) is mounted instead, with
   * dependency injection. Not available in `forRootAsync`'s factory: set `mount` in the
   * `forRootAsync()` options themselves.
   * @default false (bind it with `@UseGuards(CloudRunAuthGuard)` where needed)
   */
  mount?: boolean | Type<CloudRunAuthGuard>;
  /** Largest accepted token header value, in bytes (1024 to 65536); larger ones are rejected unparsed. @default 8192 */
  maxHeaderBytes?: number;
  /**
   * Where the token is in execution contexts the guard cannot read on its own: `ws`, and `rpc`
   * transports other than gRPC (HTTP, GraphQL and gRPC are built in and never call it). Returns
   * the token (`eyJ…`, or a `Bearer eyJ…` value), or `undefined` when there is none; the token is
   * then verified and the allow-list applied exactly as for HTTP. Without it, such contexts are
   * refused (fail closed) with a log line naming the context type.
   * @example extractToken: (context) => context.switchToWs().getData<{ token?: string }>()?.token
   */
  extractToken?: (context: ExecutionContext) => string | undefined;
}
