import { verify as verifyRsa, type KeyObject } from 'node:crypto';
import type { DecodedJwt } from '../../shared/jwt/jwt.codec.js';
import { checkIdTokenClaims } from './id-token-claims.checker.js';
import type { SigningKeyStore } from '../keys/signing-key.store.js';
import { rejectToken as reject } from '../../shared/errors/token-verification.error.js';
import type { CallerIdentity } from './caller-identity.interface.js';
import { SignedJwtVerifier, type JwtProfile } from './signed-jwt.verifier.js';
import type { IdTokenVerifierOptions, ResolvedVerifierOptions } from './id-token-verifier.options.js';
import { resolveVerifierOptions } from './id-token-verifier.options.js';
import { STRIPPED_SIGNATURE } from '../../shared/jwt/stripped-signature.js';

/** Google ID tokens: RS256 only (Google never uses anything else), Google's claims, Cloud Run's stripped signatures. */
const ID_TOKEN: JwtProfile<ResolvedVerifierOptions> = {
  algorithm: 'RS256',
  kind: 'Google ID tokens',
  checkClaims: checkIdTokenClaims,
  signatureMatches: rsaSignatureMatches,
  signatureSkipped: strippedSignatureAccepted,
  sharedSignature: STRIPPED_SIGNATURE,
};

/**
 * Verifies Google-signed ID tokens (RS256, Google issuer, configured audience, time claims,
 * verified email) and returns the caller's identity. Usable standalone:
 *
 * ```ts
 * const verifier = new IdTokenVerifier({ audience: 'https://my-service-xyz.a.run.app' });
 * const caller = await verifier.verify(token); // throws TokenVerificationError
 * ```
 *
 * Successful results are cached per token until its `exp` (bounded LRU), so a caller
 * reusing its token costs one map lookup and gets the same (frozen) identity object. Keys are
 * fetched lazily on first use.
 */
export class IdTokenVerifier {
  /**
   * The verification itself: options, keys, the verified-token cache.
   * @internal
   */
  readonly verification: SignedJwtVerifier<ResolvedVerifierOptions>;

  /** @throws CloudRunAuthConfigError naming the option at fault. */
  constructor(options: IdTokenVerifierOptions);
  /**
   * @param options verifier options, or resolved ones (`verifier` of the module's inbound options).
   * @param keyStore where keys come from. @default a `JwksKeyStore` on `options.certsUrl`
   * @internal
   */
  constructor(options: IdTokenVerifierOptions | ResolvedVerifierOptions, keyStore?: SigningKeyStore);
  constructor(options: IdTokenVerifierOptions | ResolvedVerifierOptions, keyStore?: SigningKeyStore) {
    this.verification = new SignedJwtVerifier(resolveVerifierOptions(options), ID_TOKEN, keyStore);
  }

  /**
   * Verifies `token` (the bare JWT, without `Bearer `) and returns its caller's identity.
   * @throws TokenVerificationError with a reason code; its message never contains the token.
   */
  verify(token: string): Promise<CallerIdentity> {
    return this.verification.verify(token);
  }
}

/** Whether the signature was stripped by Cloud Run and that is allowed (`cloud-run-iam`); throws when it is not. */
function strippedSignatureAccepted({ signature }: DecodedJwt, options: ResolvedVerifierOptions): boolean {
  if (signature !== STRIPPED_SIGNATURE) return false;
  if (options.mode === 'cloud-run-iam') return true;
  throw reject(
    'signature_removed',
    `the token's signature was removed by Google (${STRIPPED_SIGNATURE}): this service is behind Cloud Run IAM, ` +
      `which checked the token before passing it on. Set inbound mode: 'cloud-run-iam' to accept such tokens ` +
      `(only safe when the service is not publicly invokable)`,
  );
}

function rsaSignatureMatches(jwt: DecodedJwt, key: KeyObject): boolean {
  const signature = Buffer.from(jwt.signature, 'base64url');
  if (signature.length * 8 !== key.asymmetricKeyDetails?.modulusLength) return false;
  try {
    // decodeJwt admits only ASCII, for which latin1 and UTF-8 are the same bytes; latin1 is cheaper.
    return verifyRsa('sha256', Buffer.from(jwt.signingInput, 'latin1'), key, signature);
  } catch {
    return false;
  }
}
