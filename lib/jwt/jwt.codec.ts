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

const SEGMENT = /^[A-Za-z0-9_-]*$/;

/**
 * Splits and JSON-decodes a compact JWS without verifying it.
 * Returns `undefined` for anything that is not three base64url segments
 * with JSON object header and payload, so callers never see a parse exception.
 */
export function decodeJwt(token: string): DecodedJwt | undefined {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JWT_LENGTH) {
    return undefined;
  }
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second < 0 || token.indexOf('.', second + 1) !== -1) {
    return undefined;
  }
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const signature = token.slice(second + 1);
  if (!SEGMENT.test(h) || !SEGMENT.test(p) || p.length === 0 || !SEGMENT.test(signature)) {
    return undefined;
  }
  const header = parseSegment(h);
  const payload = parseSegment(p);
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: token.slice(0, second), signature };
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
