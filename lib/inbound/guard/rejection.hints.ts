import type { InboundRejectionReason } from './inbound-rejection.js';

const NOT_GOOGLE =
  'not a Google ID token: the caller must send a Google-signed ID token, not an access token or another IdP token';
const CLOCK =
  "clock skew between the caller and this service (check NTP), or raise the verifier's clockToleranceSeconds";

/** What an operator should check for each refusal reason, in the guard's log lines. */
const HINTS: Record<InboundRejectionReason, string> = {
  missing_token:
    'the caller sent no token: its client must add an ID token (Authorization or X-Serverless-Authorization)',
  duplicate_header: 'the token header is repeated: a proxy or the caller adds a second one',
  header_not_sent:
    'tokens are read only from the headers the client sent (for a subscription: the WebSocket upgrade request), never from a connection_init payload',
  header_too_large: 'raise inbound.maxHeaderBytes if this caller is legitimate',
  malformed_header: 'the header must be "Bearer <ID token>"',
  malformed: NOT_GOOGLE,
  non_canonical_encoding:
    'a token altered after it was issued (Google spells every token in canonical base64url: no padding, trailing bits zero)',
  unsupported_alg: NOT_GOOGLE,
  unsupported_header: NOT_GOOGLE,
  missing_kid: NOT_GOOGLE,
  unknown_kid:
    'a key missing from certsUrl: tokens of the emulator or another issuer (set certsUrl to match), or a forged token',
  bad_signature: 'a forged or altered token, or one signed for another key set than certsUrl',
  signature_removed:
    "this service is behind Cloud Run IAM, which strips signatures: set inbound mode 'cloud-run-iam' if it is not publicly invokable",
  invalid_issuer: NOT_GOOGLE,
  invalid_audience:
    "the caller requests tokens for another audience: make its audience (its target URL's origin) one of inbound.audience",
  invalid_subject: NOT_GOOGLE,
  invalid_exp: NOT_GOOGLE,
  expired: `the caller reuses an expired token (its token cache), or ${CLOCK}`,
  lifetime_too_long: NOT_GOOGLE,
  invalid_iat: NOT_GOOGLE,
  issued_in_future: CLOCK,
  invalid_nbf: NOT_GOOGLE,
  not_yet_valid: CLOCK,
  missing_email:
    'the token carries no email: the caller must ask for one (metadata server identity?format=full; IAM Credentials ' +
    'generateIdToken includeEmail: true; Java IdTokenCredentials: IdTokenProvider.Option.FORMAT_FULL), or list its "sub:UNIQUE_ID"',
  email_not_verified:
    'the caller\'s account email is not verified: use a service account, or list the caller\'s "sub:UNIQUE_ID"',
  keys_unavailable: "Google's signing keys cannot be fetched: see the key store's line about certsUrl",
  caller_not_allowed:
    "add the caller to inbound.allowedCallers or the route's @AllowedCallers() if it should be allowed",
  verification_error: 'an unexpected error in verification (a bug or a custom key store); the detail names it',
  unsupported_context: 'set inbound.extractToken to read the token in this execution context',
  stripped_token_unchecked:
    "a token without its signature is trusted only in a request header Cloud Run checked; send a signed token here (mode 'verify' checks it)",
};

/** What to check for `reason`. */
export function rejectionHint(reason: InboundRejectionReason): string {
  return HINTS[reason] ?? 'see the detail';
}

/** The received audience for a log field: the JSON string unwrapped when it is one. */
export function receivedAudience(described: string | undefined): string | undefined {
  if (described === undefined || !described.startsWith('"')) return described;
  try {
    const value: unknown = JSON.parse(described);
    return typeof value === 'string' ? value : described;
  } catch {
    return described;
  }
}
