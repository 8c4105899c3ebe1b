import { assertKnownKeys, assertObject, resolveSecureUrl } from '../../shared/options/option.assertions.js';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import {
  GOOGLE_CERTS_URL,
  type IdTokenVerifierOptions,
  type ResolvedVerifierOptions,
} from './verifier-options.interface.js';

const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** Every key of {@link IdTokenVerifierOptions}. */
export const VERIFIER_OPTION_KEYS: readonly string[] = [
  'audience',
  'mode',
  'clockToleranceSeconds',
  'requireVerifiedEmail',
  'verifiedTokenCacheSize',
  'certsUrl',
  'keyFetchTimeoutMs',
  'keyRefetchCooldownMs',
];
/** Results of {@link resolveVerifierOptions}: handed one again, it returns it as is. */
const resolved = new WeakSet<object>();

/**
 * Validates verifier options and applies defaults; options it resolved before are returned
 * as they are, so the module's `inbound` options are validated once, not again by the verifier.
 * `at` prefixes field names in errors (`inbound` when called for the module).
 */
export function resolveVerifierOptions(
  options: IdTokenVerifierOptions | ResolvedVerifierOptions,
  at?: string,
): ResolvedVerifierOptions {
  if (resolved.has(options)) return options as ResolvedVerifierOptions;
  return resolveOnce(options as IdTokenVerifierOptions, at);
}

function resolveOnce(options: IdTokenVerifierOptions, at: string | undefined): ResolvedVerifierOptions {
  const field = (name: string) => (at ? `${at}.${name}` : name);
  assertObject(options as unknown, at || 'options');
  assertKnownKeys(options, VERIFIER_OPTION_KEYS, at ?? '');
  const audiences = resolveAudiences(options.audience, field('audience'));
  const mode = options.mode ?? 'verify';
  if (mode !== 'verify' && mode !== 'cloud-run-iam') {
    throw new CloudRunAuthConfigError(`must be 'verify' or 'cloud-run-iam'`, field('mode'));
  }
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
  const requireVerifiedEmail = options.requireVerifiedEmail ?? true;
  if (typeof requireVerifiedEmail !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', field('requireVerifiedEmail'));
  }
  const result: ResolvedVerifierOptions = Object.freeze({
    audiences: Object.freeze(audiences),
    acceptedAudiences: acceptedAudienceSet(audiences),
    mode,
    clockToleranceSeconds,
    requireVerifiedEmail,
    verifiedTokenCacheSize: integer(options.verifiedTokenCacheSize, 1000, 0, field('verifiedTokenCacheSize')),
    certsUrl: resolveCertsUrl(options.certsUrl, field('certsUrl')),
    keyFetchTimeoutMs: integer(options.keyFetchTimeoutMs, 5000, 1, field('keyFetchTimeoutMs')),
    keyRefetchCooldownMs: integer(options.keyRefetchCooldownMs, 30_000, 1, field('keyRefetchCooldownMs')),
  });
  resolved.add(result);
  return result;
}

function resolveAudiences(value: unknown, field: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new CloudRunAuthConfigError(
      'is required: the service URL, or the full push/task URL for Pub/Sub, Cloud Tasks and Cloud Scheduler (a string or a non-empty array)',
      field,
    );
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

function resolveCertsUrl(value: unknown, field: string): string {
  return value === undefined ? GOOGLE_CERTS_URL : resolveSecureUrl(value, field).href;
}

function integer(value: unknown, fallback: number, min: number, field: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new CloudRunAuthConfigError(`must be an integer >= ${min}`, field);
  }
  return value;
}
