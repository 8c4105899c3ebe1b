import type { ExecutionContext } from '@nestjs/common';
import type { CallerAllowList } from './allowed-callers.matcher.js';
import type { ResolvedIapAssertionVerifierOptions } from './verifier/iap-options.interface.js';
import type { ResolvedVerifierOptions } from './verifier/verifier-options.interface.js';

/**
 * `InboundOptions` after validation, with defaults applied (frozen): what `CloudRunAuthGuard`
 * and its subclasses inject with `@Inject(CLOUD_RUN_AUTH_INBOUND_OPTIONS)`.
 */
export interface ResolvedInboundOptions {
  /** The verifier's options, as `IdTokenVerifier` uses them; `audiences` is empty when ID tokens are not accepted (IAP only). */
  readonly verifier: ResolvedVerifierOptions;
  /** `inbound.iap` with the shared key and cache options, as `IapAssertionVerifier` uses them; `undefined` without IAP. */
  readonly iap: ResolvedIapAssertionVerifierOptions | undefined;
  /** The module-level allow-list; `undefined` only with `allowAnyCaller`. */
  readonly allowedCallers: CallerAllowList | undefined;
  readonly allowAnyCaller: boolean;
  readonly maxHeaderBytes: number;
  /** `InboundOptions.extractToken`, when set. */
  readonly extractToken?: (context: ExecutionContext) => string | undefined;
}
