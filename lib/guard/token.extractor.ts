/** Request headers as Node, Express and Fastify expose them (lowercase names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Why no token could be taken from a request. */
export type TokenExtractionFailure = 'missing_token' | 'malformed_header' | 'duplicate_header' | 'header_too_large';

/** The outcome of {@link extractBearerToken}: a token, or why there is none. */
export type TokenExtraction =
  | { token: string; header: 'x-serverless-authorization' | 'authorization' }
  | { failure: TokenExtractionFailure; header?: 'x-serverless-authorization' | 'authorization' };

const SERVERLESS = 'x-serverless-authorization';
const AUTHORIZATION = 'authorization';
// RFC 6750 credentials: the scheme (case-insensitive, RFC 7235), one or more spaces, a b64token.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Takes the bearer token from `X-Serverless-Authorization` when that header is present (it is
 * the one Cloud Run checked), else from `Authorization`; never from the query string. A present
 * but unusable `X-Serverless-Authorization` is an error, never a reason to fall back.
 * Header values are hostile: arrays and repeated headers are refused, and values longer than
 * `maxBytes` are refused before any parsing.
 *
 * @param rawHeaders the request's `rawHeaders`, when available, to detect repeated headers
 *   (Node keeps only the first `Authorization` in `headers`).
 */
export function extractBearerToken(headers: RequestHeaders, maxBytes: number, rawHeaders?: readonly string[]): TokenExtraction {
  const header = headers[SERVERLESS] !== undefined ? SERVERLESS : AUTHORIZATION;
  const value = headers[header];
  if (value === undefined) return { failure: 'missing_token' };
  if (typeof value !== 'string' || (rawHeaders && occurrences(rawHeaders, header) > 1)) {
    return { failure: 'duplicate_header', header };
  }
  // Header strings hold one char per byte (latin1) in Node, so length is the byte count.
  if (value.length > maxBytes) return { failure: 'header_too_large', header };
  const match = BEARER.exec(value);
  return match ? { token: match[1]!, header } : { failure: 'malformed_header', header };
}

function occurrences(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key.length === name.length && key.toLowerCase() === name) count += 1;
  }
  return count;
}
