export { CloudRunAuthModule } from './module/cloud-run-auth.module.js';
export type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
} from './module/cloud-run-auth-options.interface.js';
export type { ServiceDefinition } from './module/service-definition.interface.js';
export type { ResolvedServiceDefinition } from './config/resolved-options.interface.js';
export { ServiceClient } from './client/service-client.js';
export { getServiceClientToken, InjectServiceClient } from './client/service-client.token.js';
export { IdTokenProvider, type IdTokenRequestOptions } from './token/id-token.provider.js';
export { GoogleIdTokenProvider, type GoogleIdTokenProviderOptions } from './token/google-id-token.provider.js';
export { IdTokenCache } from './token/id-token.cache.js';
export type { IdTokenCacheOptions } from './token/id-token-cache.options.js';
export { IdTokenFetchError } from './errors/id-token-fetch.error.js';
export { CloudRunAuthConfigError } from './errors/config.error.js';
export type { InboundOptions } from './guard/inbound-options.interface.js';
