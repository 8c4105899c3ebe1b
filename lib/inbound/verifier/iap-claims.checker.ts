import { describeValue as describe, rejectToken as reject } from '../../shared/errors/token-verification.error.js';
import { checkTimeClaims, deepFreeze, type CheckedClaims } from './checked-claims.js';
import { IAP_ISSUER, type ResolvedIapAssertionVerifierOptions } from './iap-verifier.options.js';

/**
 * Checks the claims of an IAP assertion: `iss` exactly IAP's, `aud` exactly one of the configured
 * audiences, `sub`, time claims (with the configured leeway) and `email`. Throws a
 * `TokenVerificationError`; messages never echo the token.
 */
export function checkIapClaims(
  payload: Record<string, unknown>,
  nowMs: number,
  options: ResolvedIapAssertionVerifierOptions,
): CheckedClaims {
  const { iss, aud, sub, email } = payload;
  if (iss !== IAP_ISSUER) throw reject('invalid_issuer', `iss ${describe(iss)} is not IAP's (${IAP_ISSUER})`);
  if (typeof aud !== 'string' || !options.acceptedAudiences.has(aud)) {
    throw reject(
      'invalid_audience',
      `aud ${describe(aud)} is not one of the configured IAP audiences ${describe(options.audiences)}`,
    );
  }
  if (typeof sub !== 'string' || sub === '') throw reject('invalid_subject', 'the assertion has no "sub"');
  const times = checkTimeClaims(payload, nowMs, options.clockToleranceSeconds);
  // IAP names the user it authenticated in every assertion; one without is not IAP's.
  if (typeof email !== 'string' || email === '') throw reject('missing_email', 'the assertion has no "email"');
  return {
    source: 'iap',
    email,
    subject: sub,
    audience: aud,
    issuer: iss,
    ...times,
    signatureVerified: true,
    claims: deepFreeze(payload),
  };
}
