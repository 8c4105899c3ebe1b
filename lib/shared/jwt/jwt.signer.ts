import { sign, type KeyObject } from 'node:crypto';
import { encodeSegment } from './jwt.codec.js';

/** Signs a compact RS256 JWS: `header` is used as given, so callers set `alg`, `kid` and `typ`. */
export function signRs256Jwt(
  privateKey: KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  return signCompact(header, payload, (input) => sign('sha256', input, privateKey));
}

/**
 * Signs a compact ES256 JWS with a P-256 key, `header` used as given. The signature is JWS's
 * 64-byte `r || s` (RFC 7518 §3.4), not the DER that node:crypto produces by default.
 */
export function signEs256Jwt(
  privateKey: KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  return signCompact(header, payload, (input) => sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
}

function signCompact(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signInput: (input: Buffer) => Buffer,
): string {
  const signingInput = `${encodeSegment(header)}.${encodeSegment(payload)}`;
  return `${signingInput}.${signInput(Buffer.from(signingInput)).toString('base64url')}`;
}
