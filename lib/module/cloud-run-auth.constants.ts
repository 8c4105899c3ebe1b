/** Internal DI tokens; not exported from the package. */
/** The options as given to `forRoot()` or returned by the `forRootAsync()` factory. */
export const CLOUD_RUN_AUTH_OPTIONS = Symbol('CLOUD_RUN_AUTH_OPTIONS');
/** The validated, defaulted configuration ({@link ResolvedCloudRunAuthOptions}). */
export const CLOUD_RUN_AUTH_CONFIG = Symbol('CLOUD_RUN_AUTH_CONFIG');
/** Where a `forRoot`/`forRootAsync`/`forFeature` call was made; also makes each call a module of its own. */
export const CLOUD_RUN_AUTH_DECLARATION = Symbol('CLOUD_RUN_AUTH_DECLARATION');
/** The resolved services of one `forRoot`/`forFeature` module, once registered with the application. */
export const CLOUD_RUN_AUTH_SERVICES = Symbol('CLOUD_RUN_AUTH_SERVICES');
