/**
 * DI token of the resolved inbound options (`ResolvedInboundOptions`, or `null` when the module
 * has no `inbound` options); what a subclass of `CloudRunAuthGuard` injects.
 */
export const CLOUD_RUN_AUTH_INBOUND_OPTIONS = 'CLOUD_RUN_AUTH_INBOUND_OPTIONS';

/** Metadata key of `@AllowedCallers()` (value: a compiled `CallerAllowList`). Internal. */
export const ALLOWED_CALLERS_METADATA = 'cloud-run-auth:allowed-callers';
/** Metadata key of `@SkipCloudRunAuth()` (value: boolean). Internal. */
export const SKIP_CLOUD_RUN_AUTH_METADATA = 'cloud-run-auth:skip';
