import type { ResolvedVerifierOptions } from './id-token-verifier.options.js';
import { describeValue as describe, rejectToken as reject } from '../../shared/errors/token-verification.error.js';
import { checkTimeClaims, deepFreeze, type CheckedClaims } from './checked-claims.js';

/** Google's two spellings of its issuer. */
export const GOOGLE_ISSUERS: ReadonlySet<string> = new Set(['https://accounts.google.com', 'accounts.google.com']);

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
  const { iss, aud, sub, email, email_verified: emailVerified } = payload;
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
  const times = checkTimeClaims(payload, nowMs, options.clockToleranceSeconds);

  const hasEmail = typeof email === 'string' && email !== '';
  if (options.requireVerifiedEmail) {
    if (!hasEmail) throw reject('missing_email', 'the token has no "email" (mint it with format=full / include_email)');
    if (emailVerified !== true) throw reject('email_not_verified', "the token's email is not verified");
  }
  return {
    source: 'id-token',
    email: hasEmail && emailVerified === true ? email : undefined,
    subject: sub,
    audience: aud,
    issuer: iss,
    ...times,
    signatureVerified,
    claims: deepFreeze(payload),
  };
}
