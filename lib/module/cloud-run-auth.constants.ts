/** Internal DI tokens; not exported from the package. */
export const CLOUD_RUN_AUTH_OPTIONS = Symbol('CLOUD_RUN_AUTH_OPTIONS');
/** The validated, defaulted configuration ({@link ResolvedCloudRunAuthOptions}). */
export const CLOUD_RUN_AUTH_CONFIG = Symbol('CLOUD_RUN_AUTH_CONFIG');
