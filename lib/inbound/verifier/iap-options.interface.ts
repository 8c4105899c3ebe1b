import type { ResolvedSignedJwtVerifierOptions, SignedJwtVerifierOptions } from './verifier-options.interface.js';

/** IAP's JWKS endpoint: the EC P-256 keys that sign its assertions. */
export const IAP_CERTS_URL = 'https://www.gstatic.com/iap/verify/public_key-jwk';
/** The `iss` of every IAP assertion. */
export const IAP_ISSUER = 'https://cloud.google.com/iap';

/** Options of {@link IapAssertionVerifier}. */
export interface IapAssertionVerifierOptions extends SignedJwtVerifierOptions {
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
