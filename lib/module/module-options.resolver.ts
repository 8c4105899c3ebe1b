import { resolveInboundOptions } from '../inbound/inbound-options.validator.js';
import { validateCredentials } from '../outbound/credentials/credentials-options.validator.js';
import type { ResolvedServiceDefinition } from '../outbound/service-definition.interface.js';
import { resolveServiceDefinitions } from '../outbound/service-definition.validator.js';
import { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import { TokenProviderRegistry } from '../outbound/token/token-provider.registry.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../shared/options/option.assertions.js';
import { resolveTelemetryOptions } from '../shared/telemetry/telemetry-options.js';
import type { CloudRunAuthModuleAsyncOptions, CloudRunAuthModuleOptions } from './cloud-run-auth-options.interface.js';
import { mountedGuard } from './mounted-guard.js';
import type { DeclaredService } from './service.providers.js';
import type { ResolvedCloudRunAuthOptions } from './resolved-options.interface.js';

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
