import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { signRs256Jwt } from '../shared/jwt/jwt.signer.js';

/** An RSA key pair with a Google-style key id, used by the emulator to sign tokens. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Generates a 2048-bit RSA key, the size Google uses for ID tokens. */
export function createSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: randomBytes(20).toString('hex'), privateKey, publicKey };
}

/** The key as a JWKS entry, the shape served by `https://www.googleapis.com/oauth2/v3/certs`. */
export function toJwk(key: SigningKey): Record<string, string> {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', alg: 'RS256', use: 'sig', kid: key.kid, n: jwk.n!, e: jwk.e! };
}

/** Signs `header.payload` with RS256 and returns the compact JWS. */
export function signJwt(
  key: SigningKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  return signRs256Jwt(key.privateKey, { alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }, payload);
}
