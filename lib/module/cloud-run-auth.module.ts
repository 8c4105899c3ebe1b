import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { createServiceClient } from '../outbound/client/service-client.factory.js';
import { getServiceClientToken } from '../outbound/client/service-client.token.js';
import { resolveModuleOptions } from './module-options.resolver.js';
import type { ResolvedCloudRunAuthOptions } from './resolved-options.interface.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { createInboundProviders, INBOUND_EXPORTS } from './inbound.providers.js';
import { IdTokenCache } from '../outbound/token/id-token.cache.js';
import { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import { CLOUD_RUN_AUTH_CONFIG, CLOUD_RUN_AUTH_OPTIONS } from './cloud-run-auth.constants.js';
import type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
} from './cloud-run-auth-options.interface.js';
import { IdTokenPrefetcher } from '../outbound/token/id-token.prefetcher.js';
import type { ServiceDefinition } from '../outbound/service-definition.interface.js';

/**
 * Service-to-service authentication for Cloud Run: a `ServiceClient` per target service that
 * sends Google ID tokens, and an optional `CloudRunAuthGuard` that verifies inbound ones.
 */
@Module({})
export class CloudRunAuthModule {
  /**
   * Registers the module with static configuration: either the list of services to call,
   * or the full options object. Global unless `isGlobal: false`.
   */
  static forRoot(servicesOrOptions: ServiceDefinition[] | CloudRunAuthModuleOptions = {}): DynamicModule {
    const options: CloudRunAuthModuleOptions = Array.isArray(servicesOrOptions)
      ? { services: servicesOrOptions }
      : servicesOrOptions;
    const names = Array.isArray(options.services)
      ? options.services.map((service) => service?.name).filter((name) => typeof name === 'string')
      : [];
    return this.assemble(options.isGlobal, names, [{ provide: CLOUD_RUN_AUTH_OPTIONS, useValue: options }], [], undefined);
  }

  /**
   * Registers the module with configuration from a factory (`useFactory`, `useClass` or
   * `useExisting`), e.g. `@nestjs/config`'s `registerAs(...).asProvider()`. `serviceNames`
   * must list the services the factory returns.
   */
  static forRootAsync(options: CloudRunAuthModuleAsyncOptions): DynamicModule {
    const names = options.serviceNames ?? [];
    return this.assemble(
      options.isGlobal,
      names,
      [...this.createAsyncOptionsProviders(options), ...(options.extraProviders ?? [])],
      options.imports ?? [],
      names,
    );
  }

  private static assemble(
    isGlobal: boolean | undefined,
    names: string[],
    optionsProviders: Provider[],
    imports: NonNullable<DynamicModule['imports']>,
    expectedNames: string[] | undefined,
  ): DynamicModule {
    const clientProviders: Provider[] = [...new Set(names)].map((name) => ({
      provide: getServiceClientToken(name),
      useFactory: (config: ResolvedCloudRunAuthOptions, cache: IdTokenCache) =>
        createServiceClient(config.services.get(name)!, cache),
      inject: [CLOUD_RUN_AUTH_CONFIG, IdTokenCache],
    }));
    const providers: Provider[] = [
      ...optionsProviders,
      {
        provide: CLOUD_RUN_AUTH_CONFIG,
        useFactory: (raw: CloudRunAuthModuleOptions) => resolveModuleOptions(raw, expectedNames),
        inject: [CLOUD_RUN_AUTH_OPTIONS],
      },
      {
        provide: IdTokenProvider,
        useFactory: (config: ResolvedCloudRunAuthOptions) => config.tokenProvider,
        inject: [CLOUD_RUN_AUTH_CONFIG],
      },
      {
        provide: IdTokenCache,
        useFactory: (provider: IdTokenProvider, config: ResolvedCloudRunAuthOptions) =>
          new IdTokenCache(provider, config.tokenCache),
        inject: [IdTokenProvider, CLOUD_RUN_AUTH_CONFIG],
      },
      IdTokenPrefetcher,
      ...clientProviders,
      ...createInboundProviders(),
    ];
    return {
      module: CloudRunAuthModule,
      global: isGlobal ?? true,
      imports,
      providers,
      exports: [
        CLOUD_RUN_AUTH_CONFIG,
        IdTokenProvider,
        IdTokenCache,
        ...clientProviders.map((p) => (p as { provide: string }).provide),
        ...INBOUND_EXPORTS,
      ],
    };
  }

  private static createAsyncOptionsProviders(options: CloudRunAuthModuleAsyncOptions): Provider[] {
    if (options.useFactory) {
      return [{ provide: CLOUD_RUN_AUTH_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }];
    }
    const factoryClass = options.useClass ?? options.useExisting;
    if (!factoryClass) {
      throw new CloudRunAuthConfigError('one of useFactory, useClass or useExisting is required', 'forRootAsync');
    }
    return [
      ...(options.useClass ? [{ provide: options.useClass, useClass: options.useClass }] : []),
      {
        provide: CLOUD_RUN_AUTH_OPTIONS,
        useFactory: (factory: CloudRunAuthOptionsFactory) => factory.createCloudRunAuthOptions(),
        inject: [factoryClass],
      },
    ];
  }
}
