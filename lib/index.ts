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
export { CloudRunAuthGuard, type InboundRejection, type InboundRejectionReason } from './guard/cloud-run-auth.guard.js';
export { SkipCloudRunAuth } from './guard/skip-cloud-run-auth.decorator.js';
export { AllowedCallers } from './guard/allowed-callers.decorator.js';
export type { CallerAllowList } from './guard/allowed-callers.matcher.js';
export { Caller, getCallerIdentity } from './guard/caller.decorator.js';
export { ALLOWED_CALLERS_METADATA, SKIP_CLOUD_RUN_AUTH_METADATA } from './guard/inbound.constants.js';
export type { CallerIdentity } from './verify/caller-identity.interface.js';
export { IdTokenVerifier } from './verify/id-token.verifier.js';
export type { IdTokenVerifierOptions } from './verify/verifier-options.interface.js';
export { SigningKeyStore } from './verify/signing-key.store.js';
export { TokenVerificationError, type TokenRejectionReason } from './verify/token-verification.error.js';
