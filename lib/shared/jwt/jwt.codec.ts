/** A JWT split into its parts; nothing here is verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string;
  /** The raw third segment (base64url). */
  signature: string;
}

/** Largest token accepted by the decoder; Google ID tokens are ~1 KB. */
export const MAX_JWT_LENGTH = 8192;

// Three base64url segments, header and payload non-empty; one pass over the token.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Splits and JSON-decodes a compact JWS without verifying it.
 * Returns `undefined` for anything that is not three base64url segments
 * with JSON object header and payload, so callers never see a parse exception.
 * A token it accepts consists of ASCII characters only.
 */
export function decodeJwt(token: string): DecodedJwt | undefined {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JWT_LENGTH || !COMPACT_JWS.test(token)) {
    return undefined;
  }
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const header = parseSegment(token.slice(0, first));
  const payload = header && parseSegment(token.slice(first + 1, second));
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: token.slice(0, second), signature: token.slice(second + 1) };
}

function parseSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Encodes a JSON value as one base64url JWT segment. */
export function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
