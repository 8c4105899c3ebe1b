import type { CallerIdentity } from './caller-identity.interface.js';
import { rejectToken as reject } from '../../shared/errors/token-verification.error.js';

/** Google's ID tokens live one hour, IAP's assertions ten minutes; google-auth-library caps lifetimes at a day. */
const MAX_LIFETIME_SECONDS = 86_400;

/** The claims of a token that passed every check, in the form the verified-token cache keeps. */
export interface CheckedClaims {
  source: CallerIdentity['source'];
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
 * Checks `exp`, `iat` (both required) and `nbf` (when present) against `nowMs`, with `leeway`
 * seconds either way, and a lifetime of at most a day. Throws a `TokenVerificationError`.
 */
export function checkTimeClaims(
  { exp, iat, nbf }: Record<string, unknown>,
  nowMs: number,
  leeway: number,
): Pick<CheckedClaims, 'issuedAtMs' | 'expiresAtMs'> {
  const now = nowMs / 1000;
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
  return { issuedAtMs: iat * 1000, expiresAtMs: exp * 1000 };
}

/** Freezes a payload and everything in it: identities share it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}
