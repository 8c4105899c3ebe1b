/** Request headers as Node, Express and Fastify expose them (lowercase names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Why no token could be taken from a request. */
export type TokenExtractionFailure = 'missing_token' | 'malformed_header' | 'duplicate_header' | 'header_too_large';

/** The header a token is read from. */
export type TokenHeaderName = 'x-serverless-authorization' | 'authorization';

/** The outcome of {@link readTokenHeader}: the value of the header to read the token from, or why there is none. */
export type TokenHeader =
  { value: string; header: TokenHeaderName } | { failure: TokenExtractionFailure; header?: TokenHeaderName };

const SERVERLESS = 'x-serverless-authorization';
const AUTHORIZATION = 'authorization';
// RFC 6750 credentials: the scheme (case-insensitive, RFC 7235), one or more spaces, a b64token.
// Split in two so that a caller can look the credentials up before checking their characters.
const BEARER_PREFIX = /^bearer +/i;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Picks the header that carries the token and checks what must be checked before its value
 * is looked at: `X-Serverless-Authorization` when that header is present (it is the one Cloud
 * Run checked), else `Authorization`; never the query string. A present but unusable
 * `X-Serverless-Authorization` is an error, never a reason to fall back. Header values are
 * hostile: arrays and repeated headers are refused, and values longer than `maxBytes` are
 * refused before any parsing.
 *
 * @param rawHeaders the request's `rawHeaders`, when available, to detect repeated headers
 *   (Node keeps only the first `Authorization` in `headers`).
 */
export function readTokenHeader(
  headers: RequestHeaders,
  maxBytes: number,
  rawHeaders?: readonly string[],
): TokenHeader {
  const header = headers[SERVERLESS] !== undefined ? SERVERLESS : AUTHORIZATION;
  const value = headers[header];
  if (value === undefined) return { failure: 'missing_token' };
  if (typeof value !== 'string' || (rawHeaders && occurrences(rawHeaders, header) > 1)) {
    return { failure: 'duplicate_header', header };
  }
  // Header strings hold one char per byte (latin1) in Node, so length is the byte count.
  if (value.length > maxBytes) return { failure: 'header_too_large', header };
  return { value, header };
}

/**
 * What follows `Bearer ` (scheme case-insensitive, one or more spaces) in a header value, with
 * its characters NOT checked; `undefined` for another scheme. {@link bearerToken} is this
 * plus the b64token check; a string that passed the JWT decoder (a verified token) passes it.
 */
export function uncheckedBearerCredentials(value: string): string | undefined {
  const prefix = BEARER_PREFIX.exec(value);
  return prefix ? value.slice(prefix[0].length) : undefined;
}

/** The token of a `Bearer <b64token>` header value (RFC 6750), or `undefined` when the value is not one. */
export function bearerToken(value: string): string | undefined {
  const credentials = uncheckedBearerCredentials(value);
  return credentials !== undefined && B64TOKEN.test(credentials) ? credentials : undefined;
}

function occurrences(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key.length === name.length && key.toLowerCase() === name) count += 1;
  }
  return count;
}
