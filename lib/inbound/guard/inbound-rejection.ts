import { ForbiddenException, HttpException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { TokenVerificationError, type TokenRejectionReason } from '../../shared/errors/token-verification.error.js';
import type { TokenExtractionFailure } from './token.extractor.js';

/** A refusal, handed to `CloudRunAuthGuard.reject()`. */
export interface InboundRejection {
  /** 401 (no acceptable token), 403 (a valid token of a caller not allowed, or not matchable) or 503 (signing keys unavailable). */
  status: 401 | 403 | 503;
  /**
   * Why: the verifier's reason (`TokenVerificationError`), a problem with the token header
   * (`missing_token`, `malformed_header`, `duplicate_header`, `header_too_large`,
   * `header_not_sent`: in `headers` but not among the headers the client sent), the allow-list
   * (`caller_not_allowed`, `missing_email`, `email_not_verified`), an unexpected error
   * (`verification_error`), a `ws` or non-gRPC `rpc` context without `inbound.extractToken`
   * (`unsupported_context`), or a token whose signature Cloud Run removed, read from somewhere
   * Cloud Run did not check (`stripped_token_unchecked`).
   */
  reason:
    | TokenRejectionReason
    | 'missing_token'
    | 'malformed_header'
    | 'duplicate_header'
    | 'header_too_large'
    | 'header_not_sent'
    | 'caller_not_allowed'
    | 'verification_error'
    | 'unsupported_context'
    | 'stripped_token_unchecked';
  /** Operator-facing detail for the log line; never contains the token. */
  detail: string;
  /** The token's `aud` as received (JSON, shortened), when the token could be decoded. @default none */
  audience?: string;
}

/** Why the guard refused a request. */
export type InboundRejectionReason = InboundRejection['reason'];

/**
 * `WWW-Authenticate` of a refusal (RFC 6750 §3): for a 401, bare for a missing token and
 * `invalid_token` otherwise; for a 403, `insufficient_scope` (§3.1: the token is valid but does not
 * grant this caller the route). Clients refresh and retry on `invalid_token` (Java's
 * HttpCredentialsAdapter, whatever the status), so a 403 must never say it.
 * @param status @default 401
 */
export function challengeFor(reason: InboundRejectionReason, status: InboundRejection['status'] = 401): string {
  if (status === 403) return 'Bearer error="insufficient_scope"';
  return reason === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"';
}

/** The refusal for an error of the verifier. */
export function rejectionForError(error: unknown): InboundRejection {
  if (error instanceof TokenVerificationError) {
    return {
      status: error.reason === 'keys_unavailable' ? 503 : 401,
      reason: error.reason,
      detail: error.message,
      audience: error.receivedAudience,
    };
  }
  // Unexpected: refuse without echoing the message, which could quote request data.
  const name = error instanceof Error ? error.name : typeof error;
  return { status: 401, reason: 'verification_error', detail: `unexpected ${name} while verifying` };
}

/** The refusal for a request whose token header could not be used. */
export function rejectionForHeader(failure: TokenExtractionFailure, header: string | undefined): InboundRejection {
  return { status: 401, reason: failure, detail: describeFailure(failure, header) };
}

/** The exception for a refusal; bodies are Nest's generic ones so they cannot leak anything. */
export function exceptionFor({ status }: InboundRejection): HttpException {
  switch (status) {
    case 403:
      return new ForbiddenException();
    case 503:
      return new ServiceUnavailableException();
    default:
      return new UnauthorizedException();
  }
}

function describeFailure(failure: TokenExtractionFailure, header: string | undefined): string {
  switch (failure) {
    case 'missing_token':
      return header ? `no ${header} header` : 'no X-Serverless-Authorization or Authorization header';
    case 'duplicate_header':
      return `${header} is repeated`;
    case 'header_not_sent':
      return `${header} is not among the headers the client sent (copied into the request, e.g. from a connection_init payload)`;
    case 'header_too_large':
      return `${header} exceeds maxHeaderBytes`;
    default:
      return `${header} is not "Bearer <token>"`;
  }
}
