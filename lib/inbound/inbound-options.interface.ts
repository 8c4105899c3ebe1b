import type { ExecutionContext, Type } from '@nestjs/common';
import type { CloudRunAuthGuard } from './guard/cloud-run-auth.guard.js';
import type { IdTokenVerifierOptions } from './verifier/verifier-options.interface.js';

/**
 * Configuration of inbound verification (`inbound` in the module options): the verifier's
 * options (`audience`, `mode`, `certsUrl`, ...) plus who may call and how the guard is mounted.
 *
 * Secure by default: boot fails unless `allowedCallers` is non-empty or `allowAnyCaller` is
 * `true`. Route-level `@AllowedCallers()` does not count, because every route without it
 * (including ones added later, or all of them with `mount`) would then accept any
 * Google account: anyone can mint a Google-signed ID token for any audience.
 */
export interface InboundOptions extends Omit<IdTokenVerifierOptions, 'requireVerifiedEmail'> {
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
