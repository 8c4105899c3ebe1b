import type { ResolvedInboundOptions } from '../inbound.options.js';
import { readSingleHeader, type RequestHeaders, type TokenHeader } from './token.extractor.js';

/** Where Identity-Aware Proxy puts its signed assertion: a bare JWT, no `Bearer `. */
export const IAP_ASSERTION_HEADER = 'x-goog-iap-jwt-assertion';

/**
 * The IAP assertion header of a request, for a guard with `inbound.iap`: when the request has
 * one, it alone decides (a present but unusable one is refused, never a reason to fall back to
 * an ID token); without one, `undefined` when ID tokens are accepted too (read those then), else
 * `missing_token`. Hostile values get the checks of the ID-token headers (repeated or too large:
 * refused before parsing). The unsigned `x-goog-authenticated-user-*` headers are never read.
 */
export function readIapAssertionHeader(
  headers: RequestHeaders,
  options: Pick<ResolvedInboundOptions, 'verifier' | 'maxHeaderBytes'>,
  rawHeaders?: readonly string[],
): TokenHeader | undefined {
  if (headers[IAP_ASSERTION_HEADER] === undefined && options.verifier.audiences.length > 0) return undefined;
  const header = readSingleHeader(headers, IAP_ASSERTION_HEADER, options.maxHeaderBytes, rawHeaders);
  return 'failure' in header && header.failure === 'missing_token'
    ? { ...header, header: IAP_ASSERTION_HEADER }
    : header;
}
