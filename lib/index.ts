export { CloudRunAuthModule } from './module/cloud-run-auth.module.js';
export type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
} from './module/cloud-run-auth-options.interface.js';
export type { ServiceDefinition } from './outbound/service-definition.interface.js';
export type { ResolvedServiceDefinition } from './module/resolved-options.interface.js';
export { ServiceClient } from './outbound/client/service-client.js';
export { getServiceClientToken, InjectServiceClient } from './outbound/client/service-client.token.js';
export { IdTokenProvider, type IdTokenRequestOptions } from './outbound/token/id-token.provider.js';
export { GoogleIdTokenProvider, type GoogleIdTokenProviderOptions } from './outbound/token/google-id-token.provider.js';
export { IdTokenCache } from './outbound/token/id-token.cache.js';
export type { IdTokenCacheOptions } from './outbound/token/id-token-cache.options.js';
export { IdTokenFetchError } from './shared/errors/id-token-fetch.error.js';
export { CloudRunAuthConfigError } from './shared/errors/config.error.js';
export type { InboundOptions } from './inbound/inbound-options.interface.js';
export { CloudRunAuthGuard, type InboundRejection, type InboundRejectionReason } from './inbound/guard/cloud-run-auth.guard.js';
export { SkipCloudRunAuth } from './inbound/decorators/skip-cloud-run-auth.decorator.js';
export { AllowedCallers } from './inbound/decorators/allowed-callers.decorator.js';
export type { CallerAllowList } from './inbound/allowed-callers.matcher.js';
export { Caller, getCallerIdentity } from './inbound/decorators/caller.decorator.js';
export { ALLOWED_CALLERS_METADATA, SKIP_CLOUD_RUN_AUTH_METADATA } from './inbound/decorators/inbound.constants.js';
export type { CallerIdentity } from './inbound/verifier/caller-identity.interface.js';
export { IdTokenVerifier } from './inbound/verifier/id-token.verifier.js';
export type { IdTokenVerifierOptions } from './inbound/verifier/verifier-options.interface.js';
export { SigningKeyStore } from './inbound/keys/signing-key.store.js';
export { TokenVerificationError, type TokenRejectionReason } from './shared/errors/token-verification.error.js';
