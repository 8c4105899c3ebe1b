import { sign, type KeyObject } from 'node:crypto';
import { encodeSegment } from './jwt.codec.js';

/** Signs a compact RS256 JWS: `header` is used as given, so callers set `alg`, `kid` and `typ`. */
export function signRs256Jwt(
  privateKey: KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const signingInput = `${encodeSegment(header)}.${encodeSegment(payload)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`;
}
