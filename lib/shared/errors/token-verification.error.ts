/**
 * Why a token was rejected. Stable codes for logs, metrics and tests; never shown to callers.
 * `keys_unavailable` is the only one that is not the caller's fault (the guard answers 503).
 */
export type TokenRejectionReason =
  | 'malformed'
  /** Base64url segments spelt otherwise than Google spells them (padding, `+`, `/`, trailing bits set). */
  | 'non_canonical_encoding'
  | 'unsupported_alg'
  | 'unsupported_header'
  | 'missing_kid'
  | 'unknown_kid'
  | 'bad_signature'
  | 'signature_removed'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'invalid_subject'
  | 'invalid_exp'
  | 'expired'
  | 'lifetime_too_long'
  | 'invalid_iat'
  | 'issued_in_future'
  | 'invalid_nbf'
  | 'not_yet_valid'
  | 'missing_email'
  | 'email_not_verified'
  | 'keys_unavailable';

/**
 * Thrown (rejected) by `IdTokenVerifier.verify()`. The message explains the reason for
 * operators; it never contains the token.
 */
export class TokenVerificationError extends Error {
  override readonly name = 'TokenVerificationError';
  /** The token's `aud` as received (JSON, shortened), for logs; absent when it could not be decoded. */
  receivedAudience?: string;

  constructor(
    /** Machine-readable reason code. */
    readonly reason: TokenRejectionReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthand for `new TokenVerificationError(reason, message)`. */
export function rejectToken(reason: TokenRejectionReason, message: string): TokenVerificationError {
  return new TokenVerificationError(reason, message);
}

/** A claim or header value for an error message: JSON-escaped (no line breaks) and short. */
export function describeValue(value: unknown): string {
  const text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? typeof value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
