import type { InjectionToken, ModuleMetadata, OptionalFactoryDependency, Provider, Type } from '@nestjs/common';
import type { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';
import { resolveInboundOptions, type InboundOptions, type ResolvedInboundOptions } from '../inbound/inbound.options.js';
import { validateCredentials, type CredentialsOptions } from '../outbound/credentials/credentials.options.js';
import {
  resolveServiceDefinitions,
  type ResolvedServiceDefinition,
  type ServiceDefinition,
} from '../outbound/service-definition.options.js';
import type { IdTokenCacheOptions } from '../outbound/token/id-token-cache.options.js';
import { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import { TokenProviderRegistry } from '../outbound/token/token-provider.registry.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../shared/options/option.assertions.js';
import {
  resolveTelemetryOptions,
  type ResolvedTelemetryOptions,
  type TelemetryOptions,
} from '../shared/telemetry/telemetry.options.js';
import { mountedGuard } from './mounted-guard.js';
import type { DeclaredService } from './service.providers.js';

/** Options of `CloudRunAuthModule.forRoot()` and of the `forRootAsync()` factory. */
export interface CloudRunAuthModuleOptions {
  /**
   * Services to call: one `ServiceClient` each, or gRPC `ChannelCredentials` for those with
   * `transport: 'grpc'`.
   * @default []
   */
  services?: ServiceDefinition[];
  /**
   * Make this module's `ServiceClient`s injectable everywhere. The core (token cache, identities,
   * verifier) is always global. Ignored when returned from an async factory.
   * @default true
   */
  isGlobal?: boolean;
  /** Where ID tokens come from. @default `GoogleIdTokenProvider` (Application Default Credentials) */
  tokenProvider?: IdTokenProvider;
  /** Which Google identity mints tokens for every service (per-service `credentials` merge over it). @default Application Default Credentials */
  credentials?: CredentialsOptions;
  /** Tuning of the shared token cache. @default see `IdTokenCacheOptions` */
  tokenCache?: IdTokenCacheOptions;
  /** Fetch a token for every authenticated service at bootstrap; failures are logged, boot goes on. @default false */
  prefetch?: boolean;
  /** Verify inbound ID tokens with `CloudRunAuthGuard`. @default none (no guard configured) */
  inbound?: InboundOptions;
  /** OpenTelemetry metrics and spans. @default on when `@opentelemetry/api` can be loaded (see `TelemetryOptions`) */
  telemetry?: TelemetryOptions;
}

/** Implemented by a class passed as `useClass`/`useExisting` to `forRootAsync()`. */
export interface CloudRunAuthOptionsFactory {
  createCloudRunAuthOptions(): Promise<CloudRunAuthModuleOptions> | CloudRunAuthModuleOptions;
}

/** Options of `CloudRunAuthModule.forRootAsync()`. */
export interface CloudRunAuthModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /**
   * The services the factory will return: a name for an HTTP service, `{ name, transport: 'grpc' }`
   * for a gRPC one. Needed up front because DI tokens (`@InjectServiceClient(name)`,
   * `@InjectGrpcCredentials(name)`) must exist before the factory runs; boot fails if the
   * factory returns a different set, or another transport.
   * @default []
   */
  serviceNames?: (string | { name: string; transport: 'http' | 'grpc' })[];
  /** Make the `ServiceClient`s of `serviceNames` injectable everywhere. @default true */
  isGlobal?: boolean;
  /**
   * Guard every route with `CloudRunAuthGuard` (`true`) or a subclass of it; the factory must
   * return `inbound` options. Set here, not in the factory's `inbound`, because providers are
   * registered before the factory runs. The subclass's own dependencies must be global or come
   * from `imports`.
   * @default false
   */
  mount?: boolean | Type<CloudRunAuthGuard>;
  useFactory?: (...args: any[]) => Promise<CloudRunAuthModuleOptions> | CloudRunAuthModuleOptions;
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useClass?: Type<CloudRunAuthOptionsFactory>;
  useExisting?: Type<CloudRunAuthOptionsFactory>;
  /** Extra providers for the options factory's scope. @default [] */
  extraProviders?: Provider[];
}

/** The module's configuration after validation (frozen); resolved once, injected by the core's providers. */
export interface ResolvedCloudRunAuthOptions {
  /** The services of `forRoot`/`forRootAsync` (those of `forFeature` modules are resolved with them). */
  readonly services: ReadonlyMap<string, ResolvedServiceDefinition>;
  /** The identities: the module's token provider and one per distinct per-service `credentials`. */
  readonly identities: TokenProviderRegistry;
  /** As given; `IdTokenCache` validates it and applies its defaults. */
  readonly tokenCache: IdTokenCacheOptions | undefined;
  readonly prefetch: boolean;
  readonly inbound: ResolvedInboundOptions | undefined;
  readonly telemetry: ResolvedTelemetryOptions;
}

const MODULE_KEYS = [
  'services',
  'isGlobal',
  'tokenProvider',
  'credentials',
  'tokenCache',
  'prefetch',
  'inbound',
  'telemetry',
];

/** What `forRootAsync()` fixed before its factory ran; absent for `forRoot()`. */
export interface AsyncDeclaration extends Pick<CloudRunAuthModuleAsyncOptions, 'mount'> {
  /** The services of `serviceNames`. */
  services: readonly DeclaredService[];
}

/**
 * Validates module options and applies defaults. For `forRootAsync` (`async` given), the
 * services returned must be exactly `serviceNames`, and `mount` belongs to the async options.
 * @throws CloudRunAuthConfigError naming the field at fault.
 */
export function resolveModuleOptions(
  options: CloudRunAuthModuleOptions,
  async?: AsyncDeclaration,
): ResolvedCloudRunAuthOptions {
  assertObject(options as unknown, 'options');
  assertKnownKeys(options, MODULE_KEYS, 'options');
  const credentials = validateCredentials(options.credentials, 'credentials');
  if (options.tokenProvider !== undefined && !(options.tokenProvider instanceof IdTokenProvider)) {
    throw new CloudRunAuthConfigError('must be an instance of a class extending IdTokenProvider', 'tokenProvider');
  }
  if (options.tokenProvider && credentials) {
    throw new CloudRunAuthConfigError('give tokenProvider or credentials, not both', 'credentials');
  }
  if (options.prefetch !== undefined && typeof options.prefetch !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', 'prefetch');
  }
  const identities = new TokenProviderRegistry(options.tokenProvider, credentials);
  const services = resolveServiceDefinitions(options.services ?? [], identities);
  if (async) checkServiceNames(services, async.services);
  const inbound = resolveInboundOptions(options.inbound);
  const telemetry = resolveTelemetryOptions(options.telemetry);
  checkMount(options.inbound?.mount, async, inbound !== undefined);
  return Object.freeze({
    services,
    identities,
    tokenCache: options.tokenCache,
    prefetch: options.prefetch ?? false,
    inbound,
    telemetry,
  });
}

function checkServiceNames(
  services: ReadonlyMap<string, ResolvedServiceDefinition>,
  expected: readonly DeclaredService[],
): void {
  const listed = expected.map(({ name }) => name).join(', ');
  for (const { name, transport } of services.values()) {
    const declared = expected.find((service) => service.name === name);
    if (!declared) {
      throw new CloudRunAuthConfigError(
        `the factory returned service "${name}", which is not listed in serviceNames [${listed}]`,
        `services[${name}]`,
      );
    }
    if (declared.transport !== transport) {
      throw new CloudRunAuthConfigError(
        `is '${transport}', but serviceNames declares "${name}" with transport '${declared.transport}'` +
          (declared.transport === 'http' ? ` (list it as { name: '${name}', transport: 'grpc' })` : ''),
        `services[${name}].transport`,
      );
    }
  }
  for (const { name } of expected) {
    if (!services.has(name)) {
      throw new CloudRunAuthConfigError(
        `serviceNames lists "${name}" but the factory returned no such service`,
        `services[${name}]`,
      );
    }
  }
}

const MOUNT_VALUES = 'must be a boolean or a class extending CloudRunAuthGuard';

/** `mount` decides which providers exist, so it must be known when the module is declared. */
function checkMount(mount: unknown, async: AsyncDeclaration | undefined, hasInbound: boolean): void {
  if (!async) {
    if (mount !== undefined && mount !== false && !mountedGuard(mount)) {
      throw new CloudRunAuthConfigError(`${MOUNT_VALUES}, got ${typeof mount}`, 'inbound.mount');
    }
    return;
  }
  if (mount !== undefined && mount !== false) {
    throw new CloudRunAuthConfigError(
      'forRootAsync() registers its providers before the factory runs, so the guard cannot be mounted from the ' +
        'factory: set mount in the forRootAsync() options, next to serviceNames',
      'inbound.mount',
    );
  }
  if (async.mount === undefined || async.mount === false) return;
  if (!mountedGuard(async.mount))
    throw new CloudRunAuthConfigError(`${MOUNT_VALUES}, got ${typeof async.mount}`, 'mount');
  if (!hasInbound)
    throw new CloudRunAuthConfigError('mounts a guard, but the factory returned no inbound options', 'mount');
}
