// Module
export { CloudRunAuthModule } from './module/cloud-run-auth.module.js';
export type {
  CloudRunAuthModuleAsyncOptions,
  CloudRunAuthModuleOptions,
  CloudRunAuthOptionsFactory,
} from './module/cloud-run-auth-options.interface.js';

// Outbound: clients, token cache, identities
export type {
  ResolvedServiceDefinition,
  ServiceDefinition,
  ServiceTransport,
} from './outbound/service-definition.interface.js';
export type { ServiceNameDeclaration } from './module/service.providers.js';
export type { CredentialsOptions } from './outbound/credentials/credentials-options.interface.js';
export { ServiceClient } from './outbound/client/service-client.js';
export { getServiceClientToken, InjectServiceClient } from './outbound/client/service-client.token.js';
export { getGrpcCredentialsToken, InjectGrpcCredentials } from './outbound/grpc/grpc-credentials.token.js';
export { CloudRunAuthExceptionFilter } from './outbound/client/cloud-run-auth-exception.filter.js';
export { IdTokenProvider, type IdTokenRequestOptions } from './outbound/token/id-token.provider.js';
export { GoogleIdTokenProvider, type GoogleIdTokenProviderOptions } from './outbound/token/google-id-token.provider.js';
export { IdTokenCache, type GetIdTokenOptions } from './outbound/token/id-token.cache.js';
export type { IdTokenCacheOptions } from './outbound/token/id-token-cache.options.js';

// Inbound: guard, decorators, verifier, keys
export type { InboundIapOptions, InboundOptions } from './inbound/inbound-options.interface.js';
export type { ResolvedInboundOptions } from './inbound/resolved-inbound-options.interface.js';
export { CLOUD_RUN_AUTH_INBOUND_OPTIONS } from './inbound/inbound.constants.js';
export { CloudRunAuthGuard } from './inbound/guard/cloud-run-auth.guard.js';
export type { InboundRejection, InboundRejectionReason } from './inbound/guard/inbound-rejection.js';
export { SkipCloudRunAuth } from './inbound/decorators/skip-cloud-run-auth.decorator.js';
export { AllowedCallers } from './inbound/decorators/allowed-callers.decorator.js';
export type { CallerAllowList } from './inbound/allowed-callers.matcher.js';
export { Caller } from './inbound/decorators/caller.decorator.js';
export { getCallerIdentity } from './inbound/caller-identity.store.js';
export type { CallerIdentity, CallerSource } from './inbound/verifier/caller-identity.interface.js';
export { IdTokenVerifier } from './inbound/verifier/id-token.verifier.js';
export type {
  IdTokenVerifierOptions,
  ResolvedSignedJwtVerifierOptions,
  ResolvedVerifierOptions,
  SignedJwtVerifierOptions,
} from './inbound/verifier/verifier-options.interface.js';
export { IapAssertionVerifier } from './inbound/verifier/iap-assertion.verifier.js';
export type {
  IapAssertionVerifierOptions,
  ResolvedIapAssertionVerifierOptions,
} from './inbound/verifier/iap-options.interface.js';
export { SigningKeyStore } from './inbound/keys/signing-key.store.js';

// Telemetry (OpenTelemetry through the optional @opentelemetry/api)
export type { TelemetryOptions } from './shared/telemetry/telemetry-options.js';
export type { TokenSource } from './shared/telemetry/telemetry.names.js';

// Errors
export { CloudRunAuthConfigError } from './shared/errors/config.error.js';
export { IdTokenFetchError } from './shared/errors/id-token-fetch.error.js';
export { TargetRejectedTokenError } from './shared/errors/target-rejected-token.error.js';
export { TokenVerificationError, type TokenRejectionReason } from './shared/errors/token-verification.error.js';
