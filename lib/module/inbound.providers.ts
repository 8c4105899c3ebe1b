import type { CanActivate, Provider } from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost, Reflector } from '@nestjs/core';
import type { ResolvedCloudRunAuthOptions } from './resolved-options.interface.js';
import { CLOUD_RUN_AUTH_CONFIG } from './cloud-run-auth.constants.js';
import { IdTokenVerifier } from '../inbound/verifier/id-token.verifier.js';
import { JwksKeyStore } from '../inbound/keys/jwks.key-store.js';
import { SigningKeyStore } from '../inbound/keys/signing-key.store.js';
import { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';

const PASS_THROUGH: CanActivate = { canActivate: () => true };

/**
 * Providers of the inbound side. Each resolves to `null` when `inbound` is not configured, so
 * `forRootAsync` (whose options exist only after its factory ran) can always register them;
 * the guard refuses to be constructed without them.
 */
export function createInboundProviders(): Provider[] {
  return [
    {
      provide: SigningKeyStore,
      useFactory: ({ inbound }: ResolvedCloudRunAuthOptions) =>
        inbound
          ? new JwksKeyStore({
              certsUrl: inbound.certsUrl,
              fetchTimeoutMs: inbound.keyFetchTimeoutMs,
              refetchCooldownMs: inbound.keyRefetchCooldownMs,
            })
          : null,
      inject: [CLOUD_RUN_AUTH_CONFIG],
    },
    {
      provide: IdTokenVerifier,
      useFactory: ({ inbound }: ResolvedCloudRunAuthOptions, keyStore: SigningKeyStore | null) =>
        inbound && keyStore
          ? new IdTokenVerifier({
              audience: inbound.audience,
              mode: inbound.mode,
              clockToleranceSeconds: inbound.clockToleranceSeconds,
              // With allowAnyCaller the guard checks email only on routes with @AllowedCallers.
              requireVerifiedEmail: !inbound.allowAnyCaller,
              verifiedTokenCacheSize: inbound.verifiedTokenCacheSize,
              certsUrl: inbound.certsUrl,
              keyFetchTimeoutMs: inbound.keyFetchTimeoutMs,
              keyRefetchCooldownMs: inbound.keyRefetchCooldownMs,
              keyStore,
            })
          : null,
      inject: [CLOUD_RUN_AUTH_CONFIG, SigningKeyStore],
    },
    {
      // Always registered (in the style of nestjs-cls): a pass-through unless `mount: true`.
      provide: APP_GUARD,
      useFactory: (config: ResolvedCloudRunAuthOptions, verifier: IdTokenVerifier | null, reflector: Reflector, host: HttpAdapterHost) =>
        config.inbound?.mount ? new CloudRunAuthGuard(config, verifier, reflector, host) : PASS_THROUGH,
      inject: [CLOUD_RUN_AUTH_CONFIG, IdTokenVerifier, Reflector, HttpAdapterHost],
    },
  ];
}

/**
 * Inbound providers other modules can inject: the guard's dependency (the module is global,
 * so `@UseGuards(CloudRunAuthGuard)` works in any module), also usable outside HTTP.
 */
export const INBOUND_EXPORTS: Provider[] = [IdTokenVerifier];
