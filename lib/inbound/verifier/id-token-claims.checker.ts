import type { ResolvedVerifierOptions } from './verifier-options.interface.js';
import { describeValue as describe, rejectToken as reject } from '../../shared/errors/token-verification.error.js';

/** Google's two spellings of its issuer. */
const GOOGLE_ISSUERS = new Set(['https://accounts.google.com', 'accounts.google.com']);
/** Google ID tokens live one hour; google-auth-library caps lifetimes at a day too. */
const MAX_LIFETIME_SECONDS = 86_400;

/** The claims of a token that passed every check, in the form the verified-token cache keeps. */
export interface CheckedClaims {
  email: string | undefined;
  subject: string;
  audience: string;
  issuer: string;
  issuedAtMs: number;
  expiresAtMs: number;
  signatureVerified: boolean;
  claims: Readonly<Record<string, unknown>>;
}

/**
 * Checks issuer, audience, subject, time claims (with the configured leeway) and, when
 * required, a verified email. Throws a `TokenVerificationError`; messages never echo the token.
 */
export function checkIdTokenClaims(
  payload: Record<string, unknown>,
  nowMs: number,
  options: ResolvedVerifierOptions,
  signatureVerified: boolean,
): CheckedClaims {
  const { iss, aud, sub, exp, iat, nbf, email, email_verified: emailVerified } = payload;
  if (typeof iss !== 'string' || !GOOGLE_ISSUERS.has(iss)) {
    throw reject('invalid_issuer', `iss ${describe(iss)} is not Google's (https://accounts.google.com)`);
  }
  // A string only: Google never issues array audiences, so one would be a forgery or another IdP's.
  if (typeof aud !== 'string' || !options.acceptedAudiences.has(aud)) {
    throw reject(
      'invalid_audience',
      `aud ${describe(aud)} is not one of the configured audiences ${describe(options.audiences)}`,
    );
  }
  if (typeof sub !== 'string' || sub === '') throw reject('invalid_subject', 'the token has no "sub"');

  const now = nowMs / 1000;
  const leeway = options.clockToleranceSeconds;
  if (!isNumber(exp)) throw reject('invalid_exp', 'the token has no numeric "exp"');
  if (!isNumber(iat)) throw reject('invalid_iat', 'the token has no numeric "iat"');
  if (now >= exp + leeway) throw reject('expired', `the token expired at ${isoTime(exp)}`);
  if (iat > now + leeway)
    throw reject('issued_in_future', `the token claims to be issued at ${isoTime(iat)}, in the future`);
  if (exp <= iat || exp - iat > MAX_LIFETIME_SECONDS) {
    throw reject('lifetime_too_long', "the token's lifetime (exp - iat) is not between 0 and 24 hours");
  }
  if (nbf !== undefined) {
    if (!isNumber(nbf)) throw reject('invalid_nbf', 'the token\'s "nbf" is not a number');
    if (nbf > now + leeway) throw reject('not_yet_valid', `the token is not valid before ${isoTime(nbf)}`);
  }

  const hasEmail = typeof email === 'string' && email !== '';
  if (options.requireVerifiedEmail) {
    if (!hasEmail) throw reject('missing_email', 'the token has no "email" (mint it with format=full / include_email)');
    if (emailVerified !== true) throw reject('email_not_verified', "the token's email is not verified");
  }
  return {
    email: hasEmail && emailVerified === true ? email : undefined,
    subject: sub,
    audience: aud,
    issuer: iss,
    issuedAtMs: iat * 1000,
    expiresAtMs: exp * 1000,
    signatureVerified,
    claims: deepFreeze(payload),
  };
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
