import { verify as verifyEcdsa, type KeyObject } from 'node:crypto';
import type { DecodedJwt } from '../../shared/jwt/jwt.codec.js';
import type { SigningKeyStore } from '../keys/signing-key.store.js';
import { checkIapClaims } from './iap-claims.checker.js';
import type { IapAssertionVerifierOptions, ResolvedIapAssertionVerifierOptions } from './iap-verifier.options.js';
import { resolveIapVerifierOptions } from './iap-verifier.options.js';
import type { CallerIdentity } from './caller-identity.interface.js';
import { SignedJwtVerifier, type JwtProfile } from './signed-jwt.verifier.js';

/** An ES256 signature in JWS form: `r || s`, 32 bytes each (RFC 7518 §3.4); DER is not JWS. */
const ES256_SIGNATURE_BYTES = 64;

/** IAP assertions: ES256 only, IAP's claims, never a stripped signature. */
const IAP_ASSERTION: JwtProfile<ResolvedIapAssertionVerifierOptions> = {
  algorithm: 'ES256',
  kind: 'IAP assertions',
  checkClaims: checkIapClaims,
  signatureMatches: es256SignatureMatches,
};

/**
 * Verifies the signed assertions Identity-Aware Proxy adds to the requests it lets through
 * (`x-goog-iap-jwt-assertion`): ES256 with IAP's keys, issuer `https://cloud.google.com/iap`,
 * one of the configured audiences (exactly), time claims, `email`. Returns the user's identity
 * (`source: 'iap'`). Usable standalone:
 *
 * ```ts
 * const verifier = new IapAssertionVerifier({ audience: '/projects/123456789012/locations/europe-west1/services/orders' });
 * const user = await verifier.verify(req.headers['x-goog-iap-jwt-assertion']); // throws TokenVerificationError
 * ```
 *
 * Same machinery as `IdTokenVerifier`: a verified-token cache until `exp`, keys fetched lazily
 * and imported once (EC P-256 only), the same cooldown and stale-on-outage behaviour.
 */
export class IapAssertionVerifier {
  /**
   * The verification itself: options, keys, the verified-token cache.
   * @internal
   */
  readonly verification: SignedJwtVerifier<ResolvedIapAssertionVerifierOptions>;

  /** @throws CloudRunAuthConfigError naming the option at fault. */
  constructor(options: IapAssertionVerifierOptions);
  /**
   * @param options verifier options, or resolved ones (`iap` of the module's inbound options).
   * @param keyStore where keys come from. @default a `JwksKeyStore` of ES256 keys on `options.certsUrl`
   * @internal
   */
  constructor(options: IapAssertionVerifierOptions | ResolvedIapAssertionVerifierOptions, keyStore?: SigningKeyStore);
  constructor(options: IapAssertionVerifierOptions | ResolvedIapAssertionVerifierOptions, keyStore?: SigningKeyStore) {
    this.verification = new SignedJwtVerifier(resolveIapVerifierOptions(options), IAP_ASSERTION, keyStore);
  }

  /**
   * Verifies `token` (the bare JWT, without `Bearer `) and returns its caller's identity.
   * @throws TokenVerificationError with a reason code; its message never contains the token.
   */
  verify(token: string): Promise<CallerIdentity> {
    return this.verification.verify(token);
  }
}

function es256SignatureMatches(jwt: DecodedJwt, key: KeyObject): boolean {
  const signature = Buffer.from(jwt.signature, 'base64url');
  // Exactly 64 bytes: node:crypto would also take DER, which a JWS never carries.
  if (signature.length !== ES256_SIGNATURE_BYTES || key.asymmetricKeyType !== 'ec') return false;
  try {
    // decodeJwt admits only ASCII, for which latin1 and UTF-8 are the same bytes.
    return verifyEcdsa(
      'sha256',
      Buffer.from(jwt.signingInput, 'latin1'),
      { key, dsaEncoding: 'ieee-p1363' },
      signature,
    );
  } catch {
    return false;
  }
}
