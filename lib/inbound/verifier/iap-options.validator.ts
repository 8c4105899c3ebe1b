import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../../shared/options/option.assertions.js';
import { IAP_AUDIENCE, IAP_AUDIENCE_FORMS as AUDIENCE_FORMS } from '../../shared/options/iap-audience.rule.js';
import {
  IAP_CERTS_URL,
  type IapAssertionVerifierOptions,
  type ResolvedIapAssertionVerifierOptions,
} from './iap-options.interface.js';
import {
  fieldNamer,
  isResolved,
  markResolved,
  resolveAudiences,
  resolveSignedJwtOptions,
  SIGNED_JWT_OPTION_KEYS,
} from './verifier-options.validator.js';

/** Every key of {@link IapAssertionVerifierOptions}. */
const IAP_OPTION_KEYS: readonly string[] = ['audience', ...SIGNED_JWT_OPTION_KEYS];

/**
 * Validates `IapAssertionVerifier` options and applies defaults; options it resolved before are
 * returned as they are. `at` prefixes field names in errors (`inbound.iap` for the module).
 * Audiences are matched exactly: they are resource names, not URLs.
 */
export function resolveIapVerifierOptions(
  options: IapAssertionVerifierOptions | ResolvedIapAssertionVerifierOptions,
  at?: string,
): ResolvedIapAssertionVerifierOptions {
  if (isResolved(options)) return options as ResolvedIapAssertionVerifierOptions;
  const field = fieldNamer(at);
  assertObject(options as unknown, at || 'options');
  assertKnownKeys(options, IAP_OPTION_KEYS, at ?? '');
  const audiences = resolveAudiences(
    (options as IapAssertionVerifierOptions).audience,
    field('audience'),
    `IAP's audience, ${AUDIENCE_FORMS}`,
  );
  for (const audience of audiences) {
    if (!IAP_AUDIENCE.test(audience)) {
      throw new CloudRunAuthConfigError(
        `entries must be IAP audiences, ${AUDIENCE_FORMS}; got ${JSON.stringify(audience).slice(0, 120)}`,
        field('audience'),
      );
    }
  }
  return markResolved({
    ...resolveSignedJwtOptions(options, field, IAP_CERTS_URL),
    audiences: Object.freeze(audiences),
    acceptedAudiences: new Set(audiences),
  });
}
