import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject, resolveSecureUrl } from '../../shared/options/option.assertions.js';

/** Google's JWKS endpoint for ID-token signing keys. */
export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/**
 * Options of {@link IdTokenVerifier}. The module's `inbound` options extend these: each is
 * declared, defaulted and validated here once. `IapAssertionVerifier` takes the key, clock and
 * cache options too.
 */
export interface IdTokenVerifierOptions {
  /**
   * Accepted `aud` values. A URL audience also matches with or without a trailing slash
   * (unless it has a query or fragment); everything else must match exactly.
   */
  audience: string | string[];
  /**
   * `verify` checks every signature. `cloud-run-iam` additionally accepts tokens whose
   * signature Cloud Run removed after checking it (`...SIGNATURE_REMOVED_BY_GOOGLE`), on their
   * claims alone: only safe when the service cannot be invoked without IAM (no `allUsers`
   * invoker, ingress not bypassing Cloud Run), because anyone can forge such a token otherwise.
   * @default 'verify'
   */
  mode?: 'verify' | 'cloud-run-iam';
  /**
   * Reject tokens without an `email` claim or with `email_verified` not `true`
   * (`missing_email` / `email_not_verified`). Needed whenever callers are matched by email.
   * The module's verifier (the guard's) has it off: the guard refuses such callers itself, with
   * a 403, where an allow-list cannot match them.
   * @default true
   */
  requireVerifiedEmail?: boolean;
  /** JWKS endpoint of the default key store. @default 'https://www.googleapis.com/oauth2/v3/certs' */
  certsUrl?: string;
  /** Leeway for `exp`, `iat` and `nbf`, in seconds (0 to 300). @default 30 */
  clockToleranceSeconds?: number;
  /** Entries of the verified-token LRU (a hit needs the very same token; valid until `exp`); 0 disables it. @default 1000 */
  verifiedTokenCacheSize?: number;
  /** Timeout of one JWKS fetch, in ms. @default 5000 */
  keyFetchTimeoutMs?: number;
  /**
   * Least time, in ms, from the last JWKS fetch of any kind (first load included) to a refetch
   * caused by an unknown `kid`. @default 30000
   */
  keyRefetchCooldownMs?: number;
}

/** The options both verifiers take: keys, clock and cache (`certsUrl` defaults to each issuer's own). */
export type SignedJwtVerifierOptions = Omit<IdTokenVerifierOptions, 'audience' | 'mode' | 'requireVerifiedEmail'>;

/** {@link SignedJwtVerifierOptions} and the audiences, after validation, with defaults applied (frozen). */
export interface ResolvedSignedJwtVerifierOptions {
  /** The configured audiences, as given (deduplicated). */
  readonly audiences: readonly string[];
  /** Every accepted `aud` string (for ID tokens, trailing-slash variants included). */
  readonly acceptedAudiences: ReadonlySet<string>;
  readonly clockToleranceSeconds: number;
  readonly verifiedTokenCacheSize: number;
  readonly certsUrl: string;
  readonly keyFetchTimeoutMs: number;
  readonly keyRefetchCooldownMs: number;
}

/**
 * {@link IdTokenVerifierOptions} after validation, with defaults applied (frozen). In the module's
 * inbound options, `audiences` is empty when the service accepts IAP assertions only.
 */
export interface ResolvedVerifierOptions extends ResolvedSignedJwtVerifierOptions {
  readonly mode: 'verify' | 'cloud-run-iam';
  readonly requireVerifiedEmail: boolean;
}

const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** Every key of {@link SignedJwtVerifierOptions}: the options of both verifiers. */
export const SIGNED_JWT_OPTION_KEYS: readonly string[] = [
  'clockToleranceSeconds',
  'verifiedTokenCacheSize',
  'certsUrl',
  'keyFetchTimeoutMs',
  'keyRefetchCooldownMs',
];
/** Every key of {@link IdTokenVerifierOptions}. */
export const VERIFIER_OPTION_KEYS: readonly string[] = [
  'audience',
  'mode',
  'requireVerifiedEmail',
  ...SIGNED_JWT_OPTION_KEYS,
];
/** Results of the resolvers of both verifiers' options: handed one again, they return it as is. */
const resolved = new WeakSet<object>();

/** Whether `options` is the result of a resolver (then it is returned as is). */
export function isResolved(options: object): boolean {
  return resolved.has(options);
}

/** Freezes a resolver's result and remembers it as resolved. */
export function markResolved<T extends object>(options: T): Readonly<T> {
  const result = Object.freeze(options);
  resolved.add(result);
  return result;
}

/**
 * Validates verifier options and applies defaults; options it resolved before are returned
 * as they are, so the module's `inbound` options are validated once, not again by the verifier.
 * `at` prefixes field names in errors (`inbound` when called for the module).
 * @param iapConfigured for the module: whether `inbound.iap` is set, which makes `audience`
 *   optional (a service that accepts IAP assertions only).
 */
export function resolveVerifierOptions(
  options: IdTokenVerifierOptions | ResolvedVerifierOptions,
  at?: string,
  iapConfigured?: boolean,
): ResolvedVerifierOptions {
  if (isResolved(options)) return options as ResolvedVerifierOptions;
  return resolveOnce(options as IdTokenVerifierOptions, at, iapConfigured);
}

function resolveOnce(
  options: IdTokenVerifierOptions,
  at: string | undefined,
  iapConfigured: boolean | undefined,
): ResolvedVerifierOptions {
  const field = fieldNamer(at);
  assertObject(options as unknown, at || 'options');
  assertKnownKeys(options, VERIFIER_OPTION_KEYS, at ?? '');
  const audiences =
    options.audience === undefined && iapConfigured
      ? []
      : resolveAudiences(
          options.audience,
          field('audience'),
          'the service URL, or the full push/task URL for Pub/Sub, Cloud Tasks and Cloud Scheduler' +
            (iapConfigured === false ? ` (or ${field('iap')} alone, for a service behind Identity-Aware Proxy)` : ''),
        );
  const mode = options.mode ?? 'verify';
  if (mode !== 'verify' && mode !== 'cloud-run-iam') {
    throw new CloudRunAuthConfigError(`must be 'verify' or 'cloud-run-iam'`, field('mode'));
  }
  if (mode === 'cloud-run-iam' && audiences.length === 0) {
    throw new CloudRunAuthConfigError(
      `applies to ID tokens, which are accepted only with ${field('audience')}; IAP assertions are always verified`,
      field('mode'),
    );
  }
  const requireVerifiedEmail = options.requireVerifiedEmail ?? true;
  if (typeof requireVerifiedEmail !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', field('requireVerifiedEmail'));
  }
  return markResolved({
    ...resolveSignedJwtOptions(options, field, GOOGLE_CERTS_URL),
    audiences: Object.freeze(audiences),
    acceptedAudiences: acceptedAudienceSet(audiences),
    mode,
    requireVerifiedEmail,
  });
}

/** `name` prefixed with `at.`, for the field names of errors. */
export function fieldNamer(at: string | undefined): (name: string) => string {
  return (name) => (at ? `${at}.${name}` : name);
}

/** The options of {@link SignedJwtVerifierOptions}, validated, with defaults (`certsUrl`: `defaultCertsUrl`). */
export function resolveSignedJwtOptions(
  options: SignedJwtVerifierOptions,
  field: (name: string) => string,
  defaultCertsUrl: string,
): Omit<ResolvedSignedJwtVerifierOptions, 'audiences' | 'acceptedAudiences'> {
  const clockToleranceSeconds = options.clockToleranceSeconds ?? 30;
  if (
    typeof clockToleranceSeconds !== 'number' ||
    !(clockToleranceSeconds >= 0 && clockToleranceSeconds <= MAX_CLOCK_TOLERANCE_SECONDS)
  ) {
    throw new CloudRunAuthConfigError(
      `must be a number from 0 to ${MAX_CLOCK_TOLERANCE_SECONDS}`,
      field('clockToleranceSeconds'),
    );
  }
  return {
    clockToleranceSeconds,
    verifiedTokenCacheSize: integer(options.verifiedTokenCacheSize, 1000, 0, field('verifiedTokenCacheSize')),
    certsUrl:
      options.certsUrl === undefined ? defaultCertsUrl : resolveSecureUrl(options.certsUrl, field('certsUrl')).href,
    keyFetchTimeoutMs: integer(options.keyFetchTimeoutMs, 5000, 1, field('keyFetchTimeoutMs')),
    keyRefetchCooldownMs: integer(options.keyRefetchCooldownMs, 30_000, 1, field('keyRefetchCooldownMs')),
  };
}

/**
 * A non-empty list of audiences (a string or an array), deduplicated.
 * @param what what an audience is, for the error of a missing one.
 */
export function resolveAudiences(value: unknown, field: string, what: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new CloudRunAuthConfigError(`is required: ${what} (a string or a non-empty array)`, field);
  }
  for (const audience of list) {
    if (typeof audience !== 'string' || audience.trim() === '' || audience !== audience.trim()) {
      throw new CloudRunAuthConfigError(
        `entries must be non-empty strings without surrounding spaces, got ${JSON.stringify(audience)}`,
        field,
      );
    }
  }
  return [...new Set(list as string[])];
}

/** A URL audience is accepted with and without one trailing slash; Google does not normalise `aud`. */
function acceptedAudienceSet(audiences: readonly string[]): Set<string> {
  const accepted = new Set<string>();
  for (const audience of audiences) {
    accepted.add(audience);
    if (!/^https?:\/\//i.test(audience) || /[?#]/.test(audience)) continue;
    accepted.add(audience.endsWith('/') ? audience.slice(0, -1) : `${audience}/`);
  }
  return accepted;
}

function integer(value: unknown, fallback: number, min: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new CloudRunAuthConfigError(`must be an integer >= ${min}`, field);
  }
  return value;
}
