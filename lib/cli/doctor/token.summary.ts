import { IAP_ISSUER } from '../../inbound/verifier/iap-verifier.options.js';
import { GOOGLE_ISSUERS } from '../../inbound/verifier/id-token-claims.checker.js';
import { decodeJwt } from '../../shared/jwt/jwt.codec.js';
import { STRIPPED_SIGNATURE } from '../../shared/jwt/stripped-signature.js';

/**
 * What a token is, judged from its form alone: a Google ID token, an Identity-Aware Proxy
 * assertion, a JWT of another issuer, an OAuth access token (`ya29.…`), or something that is
 * no JWT at all.
 */
export type TokenKind = 'id-token' | 'iap-assertion' | 'other-jwt' | 'access-token' | 'not-a-jwt';

/** The claims that say whose a token is and for what; the values as the token has them. */
export interface TokenClaims {
  iss?: unknown;
  aud?: unknown;
  azp?: unknown;
  sub?: unknown;
  email?: unknown;
  email_verified?: unknown;
  iat?: unknown;
  exp?: unknown;
  nbf?: unknown;
}

/**
 * A token read without trusting it, for a person to look at: never the token itself, and never
 * its signature (only whether there is one).
 */
export interface TokenSummary {
  kind: TokenKind;
  /** `alg`, `kid` and `typ` of a JWT's header. */
  header?: { alg?: unknown; kid?: unknown; typ?: unknown };
  /** The claims of a JWT that {@link TokenClaims} lists. */
  claims?: TokenClaims;
  /** The names of its other claims. */
  otherClaims?: string[];
  /** `exp` minus now, in whole seconds; negative once it has expired. */
  expiresInSeconds?: number;
  /** `removed-by-google`: Cloud Run checked the token and replaced its signature with `SIGNATURE_REMOVED_BY_GOOGLE`. */
  signature?: 'present' | 'removed-by-google' | 'empty';
}

const SHOWN_CLAIMS = ['iss', 'aud', 'azp', 'sub', 'email', 'email_verified', 'iat', 'exp', 'nbf'] as const;

/** `value` without surrounding white space, and without `Bearer ` (or a whole `Authorization: Bearer ` header) before it. */
export function bareToken(value: string): string {
  return value.trim().replace(/^(?:(?:x-serverless-)?authorization:\s*)?bearer\s+/i, '');
}

/** Reads `token` (a bare token, see {@link bareToken}) into a {@link TokenSummary}. */
export function summarizeToken(token: string, nowMs = Date.now()): TokenSummary {
  const jwt = decodeJwt(token);
  if (!jwt) return { kind: /^ya29\./.test(token) ? 'access-token' : 'not-a-jwt' };
  const { payload, header, signature } = jwt;
  const claims: TokenClaims = {};
  for (const name of SHOWN_CLAIMS) if (name in payload) claims[name] = payload[name];
  const kind =
    payload.iss === IAP_ISSUER
      ? 'iap-assertion'
      : typeof payload.iss === 'string' && GOOGLE_ISSUERS.has(payload.iss)
        ? 'id-token'
        : 'other-jwt';
  return {
    kind,
    header: { alg: header.alg, kid: header.kid, typ: header.typ },
    claims,
    otherClaims: Object.keys(payload).filter((name) => !(SHOWN_CLAIMS as readonly string[]).includes(name)),
    ...(typeof payload.exp === 'number' && { expiresInSeconds: Math.round(payload.exp - nowMs / 1000) }),
    signature: signature === STRIPPED_SIGNATURE ? 'removed-by-google' : signature === '' ? 'empty' : 'present',
  };
}

/** What a token of `kind` is, in words. */
export function describeKind(kind: TokenKind): string {
  switch (kind) {
    case 'id-token':
      return 'a Google ID token';
    case 'iap-assertion':
      return 'an Identity-Aware Proxy assertion';
    case 'other-jwt':
      return 'a JWT of another issuer, not a Google ID token';
    case 'access-token':
      return 'an OAuth access token (ya29.…), not an ID token';
    default:
      return 'not a JWT (an access token or another opaque credential), not an ID token';
  }
}
