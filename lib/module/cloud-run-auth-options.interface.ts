import type { ModuleMetadata, Provider, Type, InjectionToken, OptionalFactoryDependency } from '@nestjs/common';
import type { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import type { IdTokenCacheOptions } from '../outbound/token/id-token-cache.options.js';
import type { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';
import type { InboundOptions } from '../inbound/inbound-options.interface.js';
import type { ServiceDefinition } from '../outbound/service-definition.interface.js';
import type { ServiceNameDeclaration } from './service.providers.js';
import type { CredentialsOptions } from '../outbound/credentials/credentials-options.interface.js';
import type { TelemetryOptions } from '../shared/telemetry/telemetry-options.js';

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
  /** Where ID tokens come from. @default a `GoogleIdTokenProvider` (Application Default Credentials) */
  tokenProvider?: IdTokenProvider;
  /** Which Google identity mints tokens for every service (per-service `credentials` merge over it). @default Application Default Credentials */
  credentials?: CredentialsOptions;
  /** Tuning of the shared token cache. @default see `IdTokenCacheOptions` */
  tokenCache?: IdTokenCacheOptions;
  /** Fetch a token for every authenticated service at bootstrap; failures are logged, boot goes on. @default false */
  prefetch?: boolean;
  /** Verify inbound ID tokens with `CloudRunAuthGuard`. @default none (no guard configured) */
  inbound?: InboundOptions;
  /** OpenTelemetry metrics and spans. @default on when `@opentelemetry/api` is installed; see `TelemetryOptions` */
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
  serviceNames?: ServiceNameDeclaration[];
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
