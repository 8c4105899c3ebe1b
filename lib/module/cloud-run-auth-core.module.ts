import { Logger, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { IdTokenCache } from '../outbound/token/id-token.cache.js';
import { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import { CloudRunAuthTelemetry } from '../shared/telemetry/cloud-run-auth.telemetry.js';
import { CloudRunAuthHostModule } from './cloud-run-auth-host.module.js';
import {
  CLOUD_RUN_AUTH_CONFIG,
  CLOUD_RUN_AUTH_DECLARATION,
  CLOUD_RUN_AUTH_OPTIONS,
} from './cloud-run-auth.constants.js';
import {
  resolveModuleOptions,
  type AsyncDeclaration,
  type CloudRunAuthModuleOptions,
  type ResolvedCloudRunAuthOptions,
} from './cloud-run-auth.options.js';
import { CloudRunAuthRegistry } from './cloud-run-auth.registry.js';
import { IdTokenPrefetcher } from './id-token.prefetcher.js';
import { INBOUND_EXPORTS, INBOUND_PROVIDERS } from './inbound.providers.js';
import type { ModuleDeclaration } from './module-declaration.js';

/**
 * What an application has once, however many modules import `CloudRunAuthModule`: the resolved
 * configuration, the identities, the token cache, the prefetcher, and the inbound verifier and
 * key store. Global, so that `forFeature` modules and the guard reach it from anywhere.
 */
@Module({})
export class CloudRunAuthCoreModule {
  /**
   * @param optionsProviders provide `CLOUD_RUN_AUTH_OPTIONS` (a value, or the async factory).
   * @param async what `forRootAsync` declared before its factory runs; absent for `forRoot`.
   */
  static register(
    declaration: ModuleDeclaration,
    optionsProviders: Provider[],
    imports: NonNullable<DynamicModule['imports']>,
    async?: AsyncDeclaration,
  ): DynamicModule {
    return {
      module: CloudRunAuthCoreModule,
      global: true,
      imports: [CloudRunAuthHostModule, ...imports],
      providers: [
        { provide: CLOUD_RUN_AUTH_DECLARATION, useValue: declaration },
        ...optionsProviders,
        {
          provide: CLOUD_RUN_AUTH_CONFIG,
          useFactory: (options: CloudRunAuthModuleOptions, registry: CloudRunAuthRegistry) => {
            registry.claimRoot(declaration);
            return resolveModuleOptions(options, async);
          },
          inject: [CLOUD_RUN_AUTH_OPTIONS, CloudRunAuthRegistry],
        },
        {
          provide: IdTokenProvider,
          useFactory: (config: ResolvedCloudRunAuthOptions) => config.identities.moduleProvider,
          inject: [CLOUD_RUN_AUTH_CONFIG],
        },
        {
          provide: CloudRunAuthTelemetry,
          useFactory: ({ telemetry }: ResolvedCloudRunAuthOptions) =>
            CloudRunAuthTelemetry.create(telemetry, () =>
              new Logger('CloudRunAuth').warn(
                'telemetry.enabled is true but @opentelemetry/api cannot be loaded: no metrics or spans are recorded',
              ),
            ),
          inject: [CLOUD_RUN_AUTH_CONFIG],
        },
        {
          provide: IdTokenCache,
          useFactory: (
            provider: IdTokenProvider,
            config: ResolvedCloudRunAuthOptions,
            telemetry: CloudRunAuthTelemetry,
          ) => new IdTokenCache(provider, config.tokenCache, telemetry),
          inject: [IdTokenProvider, CLOUD_RUN_AUTH_CONFIG, CloudRunAuthTelemetry],
        },
        IdTokenPrefetcher,
        ...INBOUND_PROVIDERS,
      ],
      // The host module's registry: the health indicator reads the services from it.
      exports: [CLOUD_RUN_AUTH_CONFIG, IdTokenProvider, IdTokenCache, CloudRunAuthHostModule, ...INBOUND_EXPORTS],
    };
  }
}
