/** Request headers as Node, Express and Fastify expose them (lowercase names). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Why no token could be taken from a request. */
export type TokenExtractionFailure =
  | 'missing_token'
  | 'malformed_header'
  | 'duplicate_header'
  | 'header_too_large'
  /** In `headers` but not in the raw headers the client sent: copied in by a framework (e.g. a `connection_init` payload). */
  | 'header_not_sent';

/** The header a token is read from. */
export type TokenHeaderName = 'x-serverless-authorization' | 'authorization' | 'x-goog-iap-jwt-assertion';

/** The outcome of {@link readTokenHeader}: the value of the header to read the token from, or why there is none. */
export type TokenHeader =
  { value: string; header: TokenHeaderName } | { failure: TokenExtractionFailure; header?: TokenHeaderName };

const SERVERLESS = 'x-serverless-authorization';
const AUTHORIZATION = 'authorization';
// RFC 6750 credentials: the scheme (case-insensitive, RFC 7235), one or more spaces, a b64token.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Picks the header that carries the token and checks what must be checked before its value
 * is looked at: `X-Serverless-Authorization` when that header is present (it is the one Cloud
 * Run checked), else `Authorization`; never the query string. A present but unusable
 * `X-Serverless-Authorization` is an error, never a reason to fall back. Header values are
 * hostile: arrays and repeated headers are refused, and values longer than `maxBytes` are
 * refused before any parsing.
 *
 * @param rawHeaders the request's `rawHeaders` (the headers as the client sent them), when
 *   available: the header must be there exactly once. Node keeps only the first `Authorization`
 *   in `headers`, and frameworks write into `headers` (Mercurius copies a subscription's
 *   `connection_init` payload there), so `headers` alone cannot say what the client sent.
 */
export function readTokenHeader(
  headers: RequestHeaders,
  maxBytes: number,
  rawHeaders?: readonly string[],
): TokenHeader {
  return readSingleHeader(headers, tokenHeaderName(headers), maxBytes, rawHeaders);
}

/** `X-Serverless-Authorization` when the request has it, else `Authorization` (see {@link readTokenHeader}). */
function tokenHeaderName(headers: RequestHeaders): TokenHeaderName {
  return headers[SERVERLESS] !== undefined ? SERVERLESS : AUTHORIZATION;
}

/**
 * The value of the header `name`, with the checks every token header gets before its value is
 * looked at: absent → `missing_token`; an array or repeated in `rawHeaders` → `duplicate_header`
 * (Node joins repeats of most headers into one string); absent from `rawHeaders` →
 * `header_not_sent`; longer than `maxBytes` → `header_too_large`.
 */
export function readSingleHeader(
  headers: RequestHeaders,
  name: TokenHeaderName,
  maxBytes: number,
  rawHeaders?: readonly string[],
): TokenHeader {
  const value = headers[name];
  const failure = singleHeaderFailure(value, name, maxBytes, rawHeaders);
  if (failure === undefined) return { value: value as string, header: name };
  return failure === 'missing_token' ? { failure } : { failure, header: name };
}

/** What {@link readSingleHeader} refuses `value`, the header `name`, for; `undefined` when it is usable. */
function singleHeaderFailure(
  value: string | string[] | undefined,
  name: TokenHeaderName,
  maxBytes: number,
  rawHeaders: readonly string[] | undefined,
): TokenExtractionFailure | undefined {
  if (value === undefined) return 'missing_token';
  if (typeof value !== 'string') return 'duplicate_header';
  if (rawHeaders) {
    const sent = occurrences(rawHeaders, name);
    if (sent !== 1) return sent === 0 ? 'header_not_sent' : 'duplicate_header';
  }
  // Header strings hold one char per byte (latin1) in Node, so length is the byte count.
  if (value.length > maxBytes) return 'header_too_large';
  return undefined;
}

/** The token of a `Bearer <b64token>` header value (RFC 6750), or `undefined` when the value is not one. */
export function bearerToken(value: string): string | undefined {
  return BEARER.exec(value)?.[1];
}

function occurrences(rawHeaders: readonly string[], name: TokenHeaderName): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    // Lowercased only when the length matches: few other header names have these lengths.
    if (key.length === name.length && (key === name || key.toLowerCase() === name)) count += 1;
  }
  return count;
}
