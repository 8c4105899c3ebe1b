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
// Split in two so that a caller can look the credentials up before checking their characters.
const BEARER_PREFIX = /^bearer +/i;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SPACE = 0x20;

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

/**
 * The value {@link readTokenHeader} would return, without building its result (a guard's cache
 * lookup on every request); `undefined` when it would return a failure.
 */
export function tokenHeaderValue(
  headers: RequestHeaders,
  maxBytes: number,
  rawHeaders?: readonly string[],
): string | undefined {
  const name = tokenHeaderName(headers);
  const value = headers[name];
  return singleHeaderFailure(value, name, maxBytes, rawHeaders) === undefined ? (value as string) : undefined;
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

/**
 * Where the credentials start in a `Bearer <credentials>` header value (scheme case-insensitive,
 * one or more spaces), with their characters NOT checked; `-1` for another scheme.
 * {@link bearerToken} is this plus the b64token check; a string that passed the JWT decoder
 * (a verified token) passes it.
 */
export function bearerCredentialsOffset(value: string): number {
  // `Bearer ` with exactly one space is what every client sends: checked without a regex.
  if (value.length > 7 && value.charCodeAt(6) === SPACE && value.charCodeAt(7) !== SPACE && isBearer(value)) return 7;
  const prefix = BEARER_PREFIX.exec(value);
  return prefix ? prefix[0].length : -1;
}

/** Whether `value` starts with `bearer` in any case. */
function isBearer(value: string): boolean {
  // `| 0x20` lowercases ASCII letters; the letters of "bearer" have no other character mapping onto them.
  return (
    (value.charCodeAt(0) | 0x20) === 0x62 &&
    (value.charCodeAt(1) | 0x20) === 0x65 &&
    (value.charCodeAt(2) | 0x20) === 0x61 &&
    (value.charCodeAt(3) | 0x20) === 0x72 &&
    (value.charCodeAt(4) | 0x20) === 0x65 &&
    (value.charCodeAt(5) | 0x20) === 0x72
  );
}

/** The token of a `Bearer <b64token>` header value (RFC 6750), or `undefined` when the value is not one. */
export function bearerToken(value: string): string | undefined {
  const offset = bearerCredentialsOffset(value);
  if (offset < 0) return undefined;
  const credentials = value.slice(offset);
  return B64TOKEN.test(credentials) ? credentials : undefined;
}

/** How clients usually spell each header: a name spelt so is a match without a comparison character by character. */
const USUAL_SPELLING: Readonly<Record<TokenHeaderName, string>> = {
  authorization: 'Authorization',
  'x-serverless-authorization': 'X-Serverless-Authorization',
  'x-goog-iap-jwt-assertion': 'X-Goog-IAP-JWT-Assertion',
};

function occurrences(rawHeaders: readonly string[], name: TokenHeaderName): number {
  const usual = USUAL_SPELLING[name];
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key === usual || equalsLowercase(key, name)) count += 1;
  }
  return count;
}

/** Whether `key` is `lowercase` in any case, without building a lowercased copy of every header name. */
function equalsLowercase(key: string, lowercase: string): boolean {
  if (key.length !== lowercase.length) return false;
  if (key === lowercase) return true;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const l = lowercase.charCodeAt(i);
    // Only an ASCII capital maps onto its small letter.
    if (c !== l && !(c >= 0x41 && c <= 0x5a && c + 0x20 === l)) return false;
  }
  return true;
}
