// Module
export { CloudRunAuthModule } from './module/cloud-run-auth.module.js';
export type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
} from './module/cloud-run-auth.options.js';
export type { TelemetryOptions } from './shared/telemetry/telemetry.options.js';

// Outbound: clients of other services, and the ID tokens they carry
export type { ServiceDefinition } from './outbound/service-definition.options.js';
export type { CredentialsOptions } from './outbound/credentials/credentials.options.js';
export { ServiceClient } from './outbound/client/service-client.js';
export { getServiceClientToken, InjectServiceClient } from './outbound/client/service-client.token.js';
export { CloudRunAuthExceptionFilter } from './outbound/client/cloud-run-auth-exception.filter.js';
export { IdTokenProvider } from './outbound/token/id-token.provider.js';
export { GoogleIdTokenProvider, type GoogleIdTokenProviderOptions } from './outbound/token/google-id-token.provider.js';
export { IdTokenCache, type GetIdTokenOptions } from './outbound/token/id-token.cache.js';
export type { IdTokenCacheOptions } from './outbound/token/id-token-cache.options.js';

// Inbound: the guard, its decorators, the verifiers
export type { InboundOptions } from './inbound/inbound.options.js';
export { CloudRunAuthGuard } from './inbound/guard/cloud-run-auth.guard.js';
export type { InboundRejection } from './inbound/guard/inbound-rejection.js';
export { SkipCloudRunAuth } from './inbound/decorators/skip-cloud-run-auth.decorator.js';
export { AllowedCallers } from './inbound/decorators/allowed-callers.decorator.js';
export type { CallerAllowList } from './inbound/allowed-callers.matcher.js';
export { Caller } from './inbound/decorators/caller.decorator.js';
export { getCallerIdentity } from './inbound/caller-identity.store.js';
export type { CallerIdentity } from './inbound/verifier/caller-identity.interface.js';
export { IdTokenVerifier } from './inbound/verifier/id-token.verifier.js';
export type { IdTokenVerifierOptions } from './inbound/verifier/id-token-verifier.options.js';
export { IapAssertionVerifier } from './inbound/verifier/iap-assertion.verifier.js';
export type { IapAssertionVerifierOptions } from './inbound/verifier/iap-verifier.options.js';

// Errors
export { CloudRunAuthConfigError } from './shared/errors/config.error.js';
export { IdTokenFetchError } from './shared/errors/id-token-fetch.error.js';
export { TargetRejectedTokenError } from './shared/errors/target-rejected-token.error.js';
export { TokenVerificationError, type TokenRejectionReason } from './shared/errors/token-verification.error.js';
