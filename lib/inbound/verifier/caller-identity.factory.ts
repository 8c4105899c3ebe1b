import type { CallerIdentity } from './caller-identity.interface.js';
import type { CheckedClaims } from './checked-claims.js';

const ISSUED_AT_MS = Symbol('issuedAtMs');
const EXPIRES_AT_MS = Symbol('expiresAtMs');

interface IdentityInternals {
  readonly [ISSUED_AT_MS]: number;
  readonly [EXPIRES_AT_MS]: number;
}

// One accessor pair per Date for every identity: getters written in an object literal are new
// functions each time, which gives each identity a hidden class of its own and makes every
// read of its fields slower.
const DATE_ACCESSORS: PropertyDescriptorMap = {
  issuedAt: {
    enumerable: true,
    get(this: IdentityInternals) {
      return new Date(this[ISSUED_AT_MS]);
    },
  },
  expiresAt: {
    enumerable: true,
    get(this: IdentityInternals) {
      return new Date(this[EXPIRES_AT_MS]);
    },
  },
};

/**
 * The identity of a verified token, built once and shared by every request that presents the
 * token: frozen, and its Dates are made on each read so that no caller can change what the
 * next one sees.
 */
export function createCallerIdentity(claims: CheckedClaims): CallerIdentity {
  const identity = {
    source: claims.source,
    email: claims.email,
    subject: claims.subject,
    audience: claims.audience,
    issuer: claims.issuer,
  } as Record<PropertyKey, unknown>;
  Object.defineProperties(identity, DATE_ACCESSORS);
  identity.signatureVerified = claims.signatureVerified;
  identity.claims = claims.claims;
  Object.defineProperty(identity, ISSUED_AT_MS, { value: claims.issuedAtMs });
  Object.defineProperty(identity, EXPIRES_AT_MS, { value: claims.expiresAtMs });
  return Object.freeze(identity) as unknown as CallerIdentity;
}
