/** Metadata key of `@AllowedCallers()` (value: a compiled `CallerAllowList`). */
export const ALLOWED_CALLERS_METADATA = 'cloud-run-auth:allowed-callers';
/** Metadata key of `@SkipCloudRunAuth()` (value: boolean). */
export const SKIP_CLOUD_RUN_AUTH_METADATA = 'cloud-run-auth:skip';
