/** A JWT split into its parts; nothing here is verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string;
  /** The raw third segment (base64url). */
  signature: string;
}

/**
 * Why {@link decodeCanonicalJwt} refused a string: `non_canonical` for another spelling of
 * base64url segments (padding, `+` or `/`, non-zero trailing bits, a length no bytes encode to),
 * `malformed` for anything else that is not a compact JWS with JSON object header and payload.
 */
export type JwtDecodeFailure = 'malformed' | 'non_canonical';

/** Largest token accepted by the decoder; Google ID tokens are ~1 KB. */
export const MAX_JWT_LENGTH = 8192;

// Three base64url segments, header and payload non-empty; one pass over the token.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// The same in base64's alphabet too, with padding: what a decoder would read as the same bytes.
const LOOSE_JWS = /^[A-Za-z0-9_+/-]+=*\.[A-Za-z0-9_+/-]+=*\.[A-Za-z0-9_+/-]*=*$/;

/**
 * Splits and JSON-decodes a compact JWS without verifying it.
 * Returns `undefined` for anything that is not three base64url segments
 * with JSON object header and payload, so callers never see a parse exception.
 * A token it accepts consists of ASCII characters only.
 */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const jwt = decode(token, false);
  return typeof jwt === 'string' ? undefined : jwt;
}

/**
 * {@link decodeJwt} for tokens to verify: each token has one spelling only. Base64url decoders
 * ignore a segment's trailing bits (and padding, `+` and `/`), so that one signed token has
 * many spellings that all verify; Google spells its tokens canonically (RFC 7515: unpadded
 * base64url, RFC 4648 §3.5: trailing bits zero), and any other spelling is refused before its
 * header and payload are parsed. The check reads one character per segment.
 */
export function decodeCanonicalJwt(token: string): DecodedJwt | JwtDecodeFailure {
  return decode(token, true);
}

function decode(token: string, canonical: boolean): DecodedJwt | JwtDecodeFailure {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JWT_LENGTH) return 'malformed';
  if (!COMPACT_JWS.test(token)) return canonical && LOOSE_JWS.test(token) ? 'non_canonical' : 'malformed';
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (
    canonical &&
    !(
      canonicalSegment(token, 0, first) &&
      canonicalSegment(token, first + 1, second) &&
      canonicalSegment(token, second + 1, token.length)
    )
  ) {
    return 'non_canonical';
  }
  const header = parseSegment(token.slice(0, first));
  const payload = header && parseSegment(token.slice(first + 1, second));
  if (!header || !payload) return 'malformed';
  return { header, payload, signingInput: token.slice(0, second), signature: token.slice(second + 1) };
}

/**
 * Whether the base64url segment `token[start, end)` (its characters already checked) is the
 * encoding of its bytes: by its length mod 4, the last character carries 6, 4 or 2 bits of data
 * and the rest must be zero; a length of 1 mod 4 encodes no bytes at all.
 */
function canonicalSegment(token: string, start: number, end: number): boolean {
  switch ((end - start) & 3) {
    case 0:
      return true;
    case 2:
      return (sextet(token.charCodeAt(end - 1)) & 0x0f) === 0;
    case 3:
      return (sextet(token.charCodeAt(end - 1)) & 0x03) === 0;
    default:
      return false;
  }
}

/** The 6-bit value of a base64url character. */
function sextet(c: number): number {
  if (c >= 0x61) return c - 0x61 + 26; // a-z
  if (c === 0x5f) return 63; // _
  if (c >= 0x41) return c - 0x41; // A-Z
  if (c >= 0x30) return c - 0x30 + 52; // 0-9
  return 62; // -
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
