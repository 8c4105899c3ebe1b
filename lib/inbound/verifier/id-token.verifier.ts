import { verify as verifyRsa, type KeyObject } from 'node:crypto';
import { clock } from '../../shared/clock.js';
import { decodeJwt, MAX_JWT_LENGTH, type DecodedJwt } from '../../shared/jwt/jwt.codec.js';
import type { CallerIdentity } from './caller-identity.interface.js';
import { checkIdTokenClaims, type CheckedClaims } from './id-token-claims.checker.js';
import { JwksKeyStore } from '../keys/jwks.key-store.js';
import type { SigningKeyStore } from '../keys/signing-key.store.js';
import {
  describeValue as describe,
  rejectToken as reject,
  TokenVerificationError,
} from '../../shared/errors/token-verification.error.js';
import { VerifiedTokenCache } from './verified-token.cache.js';
import type { IdTokenVerifierOptions, ResolvedVerifierOptions } from './verifier-options.interface.js';
import { resolveVerifierOptions } from './verifier-options.validator.js';

/** What Cloud Run puts in place of the signature of a token it has checked. */
export const STRIPPED_SIGNATURE = 'SIGNATURE_REMOVED_BY_GOOGLE';
const MAX_KID_LENGTH = 256;

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
 * reusing its token costs one map lookup and gets the same (frozen) identity object. Keys are fetched lazily on first use.
 */
export class IdTokenVerifier {
  /** The validated options. */
  readonly options: ResolvedVerifierOptions;
  private readonly keyStore: SigningKeyStore;
  /** `keyStore` when it is a plain `JwksKeyStore`, whose loaded keys can be read synchronously. */
  private readonly jwksKeyStore: JwksKeyStore | undefined;
  private readonly cache: VerifiedTokenCache<CallerIdentity>;

  /**
   * @param options verifier options, or resolved ones (`verifier` of the injected inbound options).
   * @param keyStore where keys come from. @default a `JwksKeyStore` on `options.certsUrl`
   * @throws CloudRunAuthConfigError when the options are invalid.
   */
  constructor(options: IdTokenVerifierOptions | ResolvedVerifierOptions, keyStore?: SigningKeyStore) {
    this.options = resolveVerifierOptions(options);
    this.keyStore = keyStore ?? new JwksKeyStore(this.options);
    // Not a subclass: one that overrides getKey() must be asked every time.
    this.jwksKeyStore = this.keyStore.constructor === JwksKeyStore ? (this.keyStore as JwksKeyStore) : undefined;
    this.cache = new VerifiedTokenCache(this.options.verifiedTokenCacheSize, STRIPPED_SIGNATURE);
  }

  /**
   * Verifies `token` (the bare JWT, without `Bearer `).
   * @throws TokenVerificationError with a reason code; its message never contains the token.
   */
  async verify(token: string): Promise<CallerIdentity> {
    const nowMs = clock.now();
    if (typeof token === 'string') {
      const cached = this.cache.get(token, nowMs);
      if (cached) return cached;
    }
    const jwt = typeof token === 'string' ? decodeJwt(token) : undefined;
    if (!jwt) {
      throw reject(
        'malformed',
        `not a JWT: expected three base64url segments with JSON header and payload, at most ${MAX_JWT_LENGTH} characters`,
      );
    }
    try {
      const stripped = this.checkHeader(jwt);
      // Claims first: they are cheap and need no keys, so junk never causes a JWKS fetch.
      const claims = checkIdTokenClaims(jwt.payload, nowMs, this.options, !stripped);
      if (!stripped) {
        const kid = usableKid(jwt.header);
        // Keys already loaded and fresh are taken without a detour through a promise.
        const key = this.jwksKeyStore?.loadedKey(kid) ?? (await this.keyStore.getKey(kid));
        this.checkSignature(jwt, key);
      }
      const identity = toIdentity(claims);
      this.cache.set(token, identity, claims.expiresAtMs);
      return identity;
    } catch (error) {
      if (error instanceof TokenVerificationError) error.receivedAudience = describe(jwt.payload.aud);
      throw error;
    }
  }

  /**
   * The identity of `token` if this verifier has verified it before and that result is still
   * cached (until the token's `exp`), as `verify()` would answer; `undefined` otherwise. Never
   * verifies anything itself: a token it does not answer for must go through `verify()`.
   *
   * @param offset where the token starts in `token`, to look up the token of a header value
   *   (`Bearer <token>`) without slicing it out. @default 0
   */
  cachedIdentity(token: string, offset = 0): CallerIdentity | undefined {
    return typeof token === 'string' ? this.cache.get(token, clock.now(), offset) : undefined;
  }

  /** Checks `alg` and `crit`; returns whether the signature was stripped by Cloud Run (and that is allowed). */
  private checkHeader({ header, signature }: DecodedJwt): boolean {
    // Only RS256: Google never uses anything else, and accepting more invites alg confusion.
    if (header.alg !== 'RS256') {
      throw reject('unsupported_alg', `alg ${describe(header.alg)} is not accepted; Google ID tokens are RS256`);
    }
    if (header.crit !== undefined) {
      throw reject('unsupported_header', 'the token has a "crit" header, which Google ID tokens never carry');
    }
    if (signature !== STRIPPED_SIGNATURE) return false;
    if (this.options.mode === 'cloud-run-iam') return true;
    throw reject(
      'signature_removed',
      `the token's signature was removed by Google (${STRIPPED_SIGNATURE}): this service is behind Cloud Run IAM, ` +
        `which checked the token before passing it on. Set inbound mode: 'cloud-run-iam' to accept such tokens ` +
        `(only safe when the service is not publicly invokable)`,
    );
  }

  private checkSignature(jwt: DecodedJwt, key: KeyObject | undefined): void {
    if (!key) {
      throw reject('unknown_kid', `the token's kid is not among the signing keys of ${this.options.certsUrl}`);
    }
    if (!rsaSignatureMatches(jwt, key)) {
      throw reject('bad_signature', 'the RS256 signature does not match the token');
    }
  }
}

function usableKid(header: Record<string, unknown>): string {
  const kid = header.kid;
  if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) {
    throw reject('missing_kid', 'the token header has no usable "kid"');
  }
  return kid;
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

/**
 * The identity of a verified token, built once and shared by every request that presents the
 * token: frozen, and its Dates are made on each read so that no caller can change what the
 * next one sees.
 */
function toIdentity(claims: CheckedClaims): CallerIdentity {
  const { issuedAtMs, expiresAtMs } = claims;
  return Object.freeze({
    email: claims.email,
    subject: claims.subject,
    audience: claims.audience,
    issuer: claims.issuer,
    get issuedAt() {
      return new Date(issuedAtMs);
    },
    get expiresAt() {
      return new Date(expiresAtMs);
    },
    signatureVerified: claims.signatureVerified,
    claims: claims.claims,
  });
}
