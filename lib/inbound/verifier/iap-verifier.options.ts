import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../../shared/options/option.assertions.js';
import { IAP_AUDIENCE, IAP_AUDIENCE_FORMS as AUDIENCE_FORMS } from '../../shared/options/iap-audience.rule.js';
import {
  fieldNamer,
  isResolved,
  markResolved,
  resolveAudiences,
  resolveSignedJwtOptions,
  SIGNED_JWT_OPTION_KEYS,
  type ResolvedSignedJwtVerifierOptions,
  type IdTokenVerifierOptions,
} from './id-token-verifier.options.js';

/** IAP's JWKS endpoint: the EC P-256 keys that sign its assertions. */
export const IAP_CERTS_URL = 'https://www.gstatic.com/iap/verify/public_key-jwk';
/** The `iss` of every IAP assertion. */
export const IAP_ISSUER = 'https://cloud.google.com/iap';

/** Options of {@link IapAssertionVerifier}: its audiences, and the key, clock and cache options of `IdTokenVerifierOptions`. */
export interface IapAssertionVerifierOptions extends Omit<
  IdTokenVerifierOptions,
  'audience' | 'mode' | 'requireVerifiedEmail' | 'certsUrl'
> {
  /**
   * Accepted `aud` values, matched exactly: `/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME`
   * (IAP on Cloud Run) or `/projects/PROJECT_NUMBER/global/backendServices/BACKEND_SERVICE_ID`
   * (IAP on a load balancer's backend service).
   */
  audience: string | string[];
  /** JWKS endpoint of the default key store. @default 'https://www.gstatic.com/iap/verify/public_key-jwk' */
  certsUrl?: string;
}

/** {@link IapAssertionVerifierOptions} after validation, with defaults applied (frozen). */
export type ResolvedIapAssertionVerifierOptions = ResolvedSignedJwtVerifierOptions;

/** Every key of {@link IapAssertionVerifierOptions}. */
const IAP_OPTION_KEYS: readonly string[] = ['audience', ...SIGNED_JWT_OPTION_KEYS];

/**
 * {@link resolveVerifierOptions} for `IapAssertionVerifier` (`at`: `inbound.iap` for the module).
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
