/** Name of the meter and of the tracer. */
export const INSTRUMENTATION_NAME = 'nestjs-cloud-run-auth';

/** Metric names; see docs/opentelemetry.md for their attributes. */
export const METRIC = {
  tokenFetches: 'cloud_run_auth.token.fetches',
  tokenFetchDuration: 'cloud_run_auth.token.fetch.duration',
  cacheLookups: 'cloud_run_auth.token.cache.lookups',
  outboundRetries: 'cloud_run_auth.outbound.retries',
  inboundDecisions: 'cloud_run_auth.inbound.decisions',
  verifyDuration: 'cloud_run_auth.inbound.verify.duration',
  jwksFetches: 'cloud_run_auth.jwks.fetches',
} as const;

/** The span around each token fetch (retries included), a child of the active span. */
export const TOKEN_FETCH_SPAN = 'cloud_run_auth.token.fetch';
/** The event added to the active span when the guard refuses a request. */
export const INBOUND_REJECTED_EVENT = 'cloud_run_auth.inbound.rejected';

/** Where an ID token came from: the kind of Google credentials found, or a custom `IdTokenProvider`. */
export type TokenSource =
  | 'metadata'
  | 'service_account'
  | 'impersonated'
  | 'external_account'
  | 'authorized_user'
  | 'custom'
  /** Credentials discovery failed before a source was found. */
  | 'unknown';

/**
 * What a token-cache lookup found: a valid token (`hit`), one inside its refresh window, served
 * while it is refreshed (`refresh_ahead`), one whose refresh has failed, still served
 * (`stale_served`), or nothing usable (`miss`: the caller waits for a fetch).
 */
export type CacheLookupResult = 'hit' | 'refresh_ahead' | 'stale_served' | 'miss';

/** Why the key store fetched the JWKS. */
export type JwksFetchCause = 'initial' | 'max_age' | 'unknown_kid' | 'retry';
