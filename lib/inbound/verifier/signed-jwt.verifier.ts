import type { KeyObject } from 'node:crypto';
import { clock } from '../../shared/clock.js';
import { decodeCanonicalJwt, MAX_JWT_LENGTH, type DecodedJwt } from '../../shared/jwt/jwt.codec.js';
import type { CallerIdentity } from './caller-identity.interface.js';
import { createCallerIdentity } from './caller-identity.factory.js';
import type { CheckedClaims } from './checked-claims.js';
import { JwksKeyStore, type JwksAlgorithm } from '../keys/jwks.key-store.js';
import type { SigningKeyStore } from '../keys/signing-key.store.js';
import {
  describeValue as describe,
  rejectToken as reject,
  TokenVerificationError,
} from '../../shared/errors/token-verification.error.js';
import { VerifiedTokenCache } from './verified-token.cache.js';
import type { ResolvedSignedJwtVerifierOptions } from './id-token-verifier.options.js';

const MAX_KID_LENGTH = 256;

/** What sets one kind of token apart: its algorithm, claims and signature format. */
export interface JwtProfile<O extends ResolvedSignedJwtVerifierOptions> {
  /** The only `alg` accepted, and the keys taken from the JWKS. */
  readonly algorithm: JwksAlgorithm;
  /** The tokens' name in error messages, e.g. `Google ID tokens`. */
  readonly kind: string;
  /** Checks the payload (a `TokenVerificationError` when it fails); `signatureVerified` is false for a skipped signature. */
  checkClaims(payload: Record<string, unknown>, nowMs: number, options: O, signatureVerified: boolean): CheckedClaims;
  /** Whether `jwt`'s signature, base64url-decoded, is valid for `key`; never throws. */
  signatureMatches(jwt: DecodedJwt, key: KeyObject): boolean;
  /**
   * Whether the signature is not to be checked at all (Cloud Run's stripped signatures, when
   * allowed); throws the rejection when a signature is missing in a way that is not allowed.
   * @default never skipped
   */
  signatureSkipped?(jwt: DecodedJwt, options: O): boolean;
  /** A signature many tokens share, for the verified-token cache. @default none */
  readonly sharedSignature?: string;
}

/**
 * What `IdTokenVerifier` and `IapAssertionVerifier` do, each specialised by its own {@link JwtProfile}:
 * the verified-token cache, decoding, header checks (one `alg`, no `crit`, a usable `kid`),
 * claims before keys, the key lookup and the signature check. A key set that withdraws a key
 * empties the cache; only canonical spellings are accepted (`non_canonical_encoding` otherwise),
 * so a token has one entry.
 */
export class SignedJwtVerifier<O extends ResolvedSignedJwtVerifierOptions> {
  private readonly keyStore: SigningKeyStore;
  /** Identities of the tokens verified so far, until each token's `exp`; also read by the guard's cached decision. */
  readonly verifiedTokens: VerifiedTokenCache<CallerIdentity>;

  /**
   * @param options the validated options.
   * @param keyStore where keys come from. @default a `JwksKeyStore` of `profile.algorithm` on `options.certsUrl`
   */
  constructor(
    /** The validated options. */
    readonly options: O,
    private readonly profile: JwtProfile<O>,
    keyStore?: SigningKeyStore,
  ) {
    this.keyStore = keyStore ?? new JwksKeyStore({ ...options, algorithm: profile.algorithm });
    this.verifiedTokens = new VerifiedTokenCache(options.verifiedTokenCacheSize, profile.sharedSignature);
    // A key withdrawn from the key set must not go on vouching for the tokens it verified.
    if (this.keyStore instanceof JwksKeyStore) this.keyStore.onKeysWithdrawn(() => this.verifiedTokens.clear());
  }

  /** What the public verifiers' `verify()` does. */
  async verify(token: string): Promise<CallerIdentity> {
    const nowMs = clock.now();
    if (typeof token === 'string') {
      const cached = this.verifiedTokens.get(token, nowMs);
      if (cached) return cached;
    }
    const jwt = typeof token === 'string' ? decodeCanonicalJwt(token) : 'malformed';
    if (jwt === 'non_canonical') {
      // Another spelling of a token's bytes: refused before any key or signature work, so that
      // each signed token is verified and cached once, under its one spelling.
      throw reject(
        'non_canonical_encoding',
        'a segment of the token is not canonical base64url (padding, "+" or "/", trailing bits set, or an impossible length)',
      );
    }
    if (jwt === 'malformed') {
      throw reject(
        'malformed',
        `not a JWT: expected three base64url segments with JSON header and payload, at most ${MAX_JWT_LENGTH} characters`,
      );
    }
    try {
      const skipped = this.checkHeader(jwt);
      // Claims first: they are cheap and need no keys, so junk never causes a JWKS fetch.
      const claims = this.profile.checkClaims(jwt.payload, nowMs, this.options, !skipped);
      if (!skipped) {
        const kid = usableKid(jwt.header);
        const key = await this.keyStore.getKey(kid);
        this.checkSignature(jwt, key);
      }
      const identity = createCallerIdentity(claims);
      this.verifiedTokens.set(token, identity, claims.expiresAtMs);
      return identity;
    } catch (error) {
      if (error instanceof TokenVerificationError) error.receivedAudience = describe(jwt.payload.aud);
      throw error;
    }
  }

  /** Checks `alg` and `crit`; returns whether the signature check is skipped. */
  private checkHeader(jwt: DecodedJwt): boolean {
    const { algorithm, kind } = this.profile;
    // One algorithm only: accepting more invites alg confusion.
    if (jwt.header.alg !== algorithm) {
      throw reject('unsupported_alg', `alg ${describe(jwt.header.alg)} is not accepted; ${kind} are ${algorithm}`);
    }
    if (jwt.header.crit !== undefined) {
      throw reject('unsupported_header', `the token has a "crit" header, which ${kind} never carry`);
    }
    return this.profile.signatureSkipped?.(jwt, this.options) ?? false;
  }

  private checkSignature(jwt: DecodedJwt, key: KeyObject | undefined): void {
    if (!key) {
      throw reject('unknown_kid', `the token's kid is not among the signing keys of ${this.options.certsUrl}`);
    }
    if (!this.profile.signatureMatches(jwt, key)) {
      throw reject('bad_signature', `the ${this.profile.algorithm} signature does not match the token`);
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
