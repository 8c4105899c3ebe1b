import { createSign, generateKeyPairSync } from 'node:crypto';

/**
 * What an attacker can do without Google's private keys: take the claims of a real token
 * (or write any claims) and sign them with a key of their own, even naming Google's current
 * key id in the header. The result looks exactly like a Google ID token, except that its
 * signature does not verify against Google's published keys.
 */
export function forgeToken(genuine: string): string {
  const [encodedHeader, encodedPayload] = genuine.split('.');
  if (!encodedHeader || !encodedPayload) throw new Error('not a JWT');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingInput = `${encodedHeader}.${encodedPayload}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}
