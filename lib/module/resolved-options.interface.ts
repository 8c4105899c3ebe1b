import type { ResolvedInboundOptions } from '../inbound/resolved-inbound-options.interface.js';
import type { ResolvedServiceDefinition } from '../outbound/service-definition.interface.js';
import type { IdTokenCacheOptions } from '../outbound/token/id-token-cache.options.js';
import type { TokenProviderRegistry } from '../outbound/token/token-provider.registry.js';
import type { ResolvedTelemetryOptions } from '../shared/telemetry/telemetry-options.js';

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
