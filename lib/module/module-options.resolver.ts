import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { resolveInboundOptions } from '../inbound/inbound-options.validator.js';
import { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import { GoogleIdTokenProvider } from '../outbound/token/google-id-token.provider.js';
import type { CredentialsOptions } from '../outbound/credentials/credentials-options.interface.js';
import { validateCredentials } from '../outbound/credentials/credentials-options.validator.js';
import { assertKnownKeys, assertObject, resolveSecureUrl } from '../shared/options/option.assertions.js';

export { assertKnownKeys, assertObject };
import type { CloudRunAuthModuleOptions } from './cloud-run-auth-options.interface.js';
import type { ServiceDefinition } from '../outbound/service-definition.interface.js';
import type { ResolvedCloudRunAuthOptions, ResolvedServiceDefinition } from './resolved-options.interface.js';

const MODULE_KEYS = ['services', 'isGlobal', 'tokenProvider', 'credentials', 'tokenCache', 'prefetch', 'inbound'];
const SERVICE_KEYS = ['name', 'url', 'audience', 'tokenHeader', 'authenticate', 'credentials', 'http'];
const CACHE_KEYS = ['refreshWindowSeconds', 'timeoutMs', 'deadlineMs', 'initialBackoffMs', 'maxBackoffMs'];

/**
 * Validates module options and applies defaults. `expectedNames` (from `forRootAsync`'s
 * `serviceNames`) must match the services returned exactly.
 */
export function resolveModuleOptions(
  options: CloudRunAuthModuleOptions,
  expectedNames?: readonly string[],
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
  // Services with equal effective credentials share one provider, hence one set of cache entries.
  const providers = new Map<string, IdTokenProvider>();
  const providerFor = (merged: CredentialsOptions) => {
    const key = JSON.stringify(merged);
    if (!providers.has(key)) providers.set(key, new GoogleIdTokenProvider(merged));
    return providers.get(key)!;
  };
  const list = options.services ?? [];
  if (!Array.isArray(list)) throw new CloudRunAuthConfigError('must be an array of service definitions', 'services');
  const services = new Map<string, ResolvedServiceDefinition>();
  list.forEach((definition, index) => {
    const service = resolveService(definition, index);
    if (definition.credentials !== undefined) {
      if (options.tokenProvider) {
        throw new CloudRunAuthConfigError('cannot be combined with a custom tokenProvider', `services[${service.name}].credentials`);
      }
      service.tokenProvider = providerFor({ ...credentials, ...validateCredentials(definition.credentials, `services[${service.name}].credentials`) });
    }
    if (services.has(service.name)) {
      throw new CloudRunAuthConfigError(`duplicate service name "${service.name}"`, `services[${service.name}].name`);
    }
    services.set(service.name, service);
  });
  if (expectedNames) {
    for (const name of services.keys()) {
      if (!expectedNames.includes(name)) {
        throw new CloudRunAuthConfigError(
          `the factory returned service "${name}", which is not listed in serviceNames [${expectedNames.join(', ')}]`,
          `services[${name}]`,
        );
      }
    }
    for (const name of expectedNames) {
      if (!services.has(name)) {
        throw new CloudRunAuthConfigError(`serviceNames lists "${name}" but the factory returned no such service`, `services[${name}]`);
      }
    }
  }
  const tokenCache = options.tokenCache ?? {};
  assertObject(tokenCache, 'tokenCache');
  assertKnownKeys(tokenCache, CACHE_KEYS, 'tokenCache');
  for (const [key, value] of Object.entries(tokenCache)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new CloudRunAuthConfigError('must be a positive number', `tokenCache.${key}`);
    }
  }
  return {
    services,
    tokenProvider: options.tokenProvider ?? providerFor(credentials ?? {}),
    tokenCache,
    prefetch: options.prefetch ?? false,
    inbound: resolveInboundOptions(options.inbound),
  };
}

function resolveService(definition: ServiceDefinition, index: number): ResolvedServiceDefinition {
  assertObject(definition as unknown, `services[${index}]`);
  const { name } = definition;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new CloudRunAuthConfigError('must be a non-empty string', `services[${index}].name`);
  }
  const at = `services[${name}]`;
  assertKnownKeys(definition, SERVICE_KEYS, at);
  // ID tokens must not cross a network in clear text.
  const url = resolveSecureUrl(definition.url, `${at}.url`);
  if (url.username || url.password) {
    throw new CloudRunAuthConfigError('must not contain credentials', `${at}.url`);
  }
  const audience = definition.audience ?? url.origin;
  if (typeof audience !== 'string' || audience.trim() === '') {
    throw new CloudRunAuthConfigError('must be a non-empty string', `${at}.audience`);
  }
  const tokenHeader = definition.tokenHeader ?? 'authorization';
  if (tokenHeader !== 'authorization' && tokenHeader !== 'x-serverless-authorization') {
    throw new CloudRunAuthConfigError(`must be 'authorization' or 'x-serverless-authorization'`, `${at}.tokenHeader`);
  }
  if (definition.authenticate !== undefined && typeof definition.authenticate !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', `${at}.authenticate`);
  }
  const http = definition.http ?? {};
  assertObject(http, `${at}.http`);
  if ('baseURL' in http) throw new CloudRunAuthConfigError('is taken from url; set url instead', `${at}.http.baseURL`);
  return {
    name,
    url: definition.url,
    origin: url.origin,
    audience,
    tokenHeader,
    authenticate: definition.authenticate ?? true,
    http,
  };
}
