import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import type { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';
import { resolveServiceDefinitions, type ServiceDefinition } from '../outbound/service-definition.options.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { CloudRunAuthCoreModule } from './cloud-run-auth-core.module.js';
import { CloudRunAuthHostModule } from './cloud-run-auth-host.module.js';
import type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
  ResolvedCloudRunAuthOptions,
} from './cloud-run-auth.options.js';
import {
  CLOUD_RUN_AUTH_CONFIG,
  CLOUD_RUN_AUTH_DECLARATION,
  CLOUD_RUN_AUTH_OPTIONS,
  CLOUD_RUN_AUTH_SERVICES,
} from './cloud-run-auth.constants.js';
import { CloudRunAuthRegistry } from './cloud-run-auth.registry.js';
import { declare, describeDeclaration, type ModuleDeclaration } from './module-declaration.js';
import { mountedGuard, mountProviders } from './mounted-guard.js';
import {
  declaredServiceNames,
  declaredServices,
  serviceProviders,
  serviceToken,
  type DeclaredService,
} from './service.providers.js';

/**
 * Service-to-service authentication for Cloud Run: a `ServiceClient` per target service that
 * sends Google ID tokens, and an optional `CloudRunAuthGuard` that verifies inbound ones.
 *
 * `forRoot()`/`forRootAsync()` configure the application's one core (token cache, identities,
 * verifier), once, in the root module; `forFeature()` adds clients in feature modules.
 */
@Module({})
export class CloudRunAuthModule {
  /**
   * Configures the module with static options: the list of services to call, or the full
   * options object. Clients are global unless `isGlobal: false`. Call it once per application.
   */
  static forRoot(servicesOrOptions: ServiceDefinition[] | CloudRunAuthModuleOptions = {}): DynamicModule {
    const declaration = declare('forRoot');
    const options: CloudRunAuthModuleOptions = Array.isArray(servicesOrOptions)
      ? { services: servicesOrOptions }
      : servicesOrOptions;
    const core = CloudRunAuthCoreModule.register(
      declaration,
      [{ provide: CLOUD_RUN_AUTH_OPTIONS, useValue: options }],
      [],
    );
    return rootModule(
      core,
      declaration,
      options.isGlobal,
      declaredServices(options.services),
      mountedGuard(options.inbound?.mount),
      [],
    );
  }

  /**
   * Configures the module with options from a factory (`useFactory`, `useClass` or
   * `useExisting`), e.g. `@nestjs/config`'s `registerAs(...).asProvider()`. `serviceNames`
   * must list the services the factory returns; `mount` is set here, not by the factory.
   * Call it once per application.
   */
  static forRootAsync(options: CloudRunAuthModuleAsyncOptions): DynamicModule {
    const declaration = declare('forRootAsync');
    const services = declaredServiceNames(options.serviceNames);
    const imports = options.imports ?? [];
    const core = CloudRunAuthCoreModule.register(
      declaration,
      [...createAsyncOptionsProviders(options), ...(options.extraProviders ?? [])],
      imports,
      { services, mount: options.mount },
    );
    return rootModule(core, declaration, options.isGlobal, services, mountedGuard(options.mount), imports);
  }

  /**
   * Registers more services (`ServiceClient`s, or gRPC credentials for `transport: 'grpc'`),
   * visible to the importing module, sharing the core's token cache and identities (same
   * audience and identity: one token fetch). Needs `forRoot()` or
   * `forRootAsync()` in the application. A service is declared once per application: a name
   * declared elsewhere fails at boot; to share a client, export it from one module.
   */
  static forFeature(services: ServiceDefinition[]): DynamicModule {
    const declaration = declare('forFeature');
    const declared = declaredServices(services);
    return {
      module: CloudRunAuthModule,
      imports: [CloudRunAuthHostModule],
      providers: [
        // Each call is a module of its own, whichever way Nest tells dynamic modules apart.
        { provide: CLOUD_RUN_AUTH_DECLARATION, useValue: declaration },
        {
          provide: CLOUD_RUN_AUTH_SERVICES,
          useFactory: (config: ResolvedCloudRunAuthOptions | undefined, registry: CloudRunAuthRegistry) => {
            if (!config) {
              throw new CloudRunAuthConfigError(
                `${describeDeclaration(declaration)} needs CloudRunAuthModule.forRoot() or forRootAsync() in the application`,
                'CloudRunAuthModule.forFeature',
              );
            }
            return registry.register(resolveServiceDefinitions(services, config.identities), declaration);
          },
          inject: [{ token: CLOUD_RUN_AUTH_CONFIG, optional: true }, CloudRunAuthRegistry],
        },
        ...serviceProviders(declared),
      ],
      exports: declared.map(serviceToken),
    };
  }
}

/** The module `forRoot`/`forRootAsync` return: the core, the root's clients, and the mounted guard. */
function rootModule(
  core: DynamicModule,
  declaration: ModuleDeclaration,
  isGlobal: boolean | undefined,
  services: DeclaredService[],
  guard: Type<CloudRunAuthGuard> | undefined,
  imports: NonNullable<DynamicModule['imports']>,
): DynamicModule {
  return {
    module: CloudRunAuthModule,
    global: isGlobal ?? true,
    // `imports` again: a mounted guard subclass may inject from them.
    imports: [CloudRunAuthHostModule, core, ...imports],
    providers: [
      {
        provide: CLOUD_RUN_AUTH_SERVICES,
        useFactory: (config: ResolvedCloudRunAuthOptions, registry: CloudRunAuthRegistry) =>
          registry.register(config.services, declaration),
        inject: [CLOUD_RUN_AUTH_CONFIG, CloudRunAuthRegistry],
      },
      ...serviceProviders(services),
      // Only when asked for: an APP_GUARD is global and cannot be taken back by the user.
      ...(guard ? mountProviders(guard) : []),
    ],
    exports: services.map(serviceToken),
  };
}

function createAsyncOptionsProviders(options: CloudRunAuthModuleAsyncOptions): Provider[] {
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
