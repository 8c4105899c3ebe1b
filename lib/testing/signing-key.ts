import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { signEs256Jwt, signRs256Jwt } from '../shared/jwt/jwt.signer.js';

/** A key pair with a key id, used by the emulator to sign tokens (RSA for ID tokens, EC P-256 for IAP). */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

type KeyPair = Pick<SigningKey, 'privateKey' | 'publicKey'>;

/**
 * RSA key pairs of closed emulators. Generating a 2048-bit key costs more than everything else an
 * emulator does at start, and test suites start one per test; a pair is handed out again, under a
 * new kid, only once the emulator that signed with it has closed.
 */
const sparePairs: KeyPair[] = [];
const MAX_SPARE_PAIRS = 8;

/** Generates a 2048-bit RSA key, the size Google uses for ID tokens. */
export function createSigningKey(): SigningKey {
  return withNewKid(generateKeyPairSync('rsa', { modulusLength: 2048 }));
}

/**
 * {@link createSigningKey}, or the pair of a closed emulator under a new kid when there is one.
 * Only for keys whose private half never leaves the emulator (its ID-token signing keys).
 */
export function reuseOrCreateSigningKey(): SigningKey {
  const spare = sparePairs.pop();
  return spare ? withNewKid(spare) : createSigningKey();
}

function withNewKid({ privateKey, publicKey }: KeyPair): SigningKey {
  return { kid: randomBytes(20).toString('hex'), privateKey, publicKey };
}

/** Hands the pairs of keys nothing signs with any more (a closed emulator's) to later {@link reuseOrCreateSigningKey} calls. */
export function recycleSigningKeys(keys: readonly SigningKey[]): void {
  for (const { privateKey, publicKey } of keys) {
    if (sparePairs.length === MAX_SPARE_PAIRS) return;
    sparePairs.push({ privateKey, publicKey });
  }
}

/** Generates an EC P-256 key with a short kid, as IAP's keys are. */
export function createIapSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid: randomBytes(6).toString('base64url'), privateKey, publicKey };
}

/** The key as a JWKS entry, the shape served by `https://www.googleapis.com/oauth2/v3/certs`. */
export function toJwk(key: SigningKey): Record<string, string> {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', alg: 'RS256', use: 'sig', kid: key.kid, n: jwk.n!, e: jwk.e! };
}

/** An IAP key as a JWKS entry, the shape served by `https://www.gstatic.com/iap/verify/public_key-jwk`. */
export function toIapJwk(key: SigningKey): Record<string, string> {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return { alg: 'ES256', crv: 'P-256', kid: key.kid, kty: 'EC', use: 'sig', x: jwk.x!, y: jwk.y! };
}

/** Signs `header.payload` with RS256 and returns the compact JWS. */
export function signJwt(
  key: SigningKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  return signRs256Jwt(key.privateKey, { alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }, payload);
}

/** Signs `header.payload` with ES256 (a 64-byte JWS signature) and returns the compact JWS, as IAP does. */
export function signIapJwt(
  key: SigningKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  return signEs256Jwt(key.privateKey, { alg: 'ES256', kid: key.kid, typ: 'JWT', ...header }, payload);
}
