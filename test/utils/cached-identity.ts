import { clock } from '../../lib/shared/clock.js';
import type { CallerIdentity } from '../../lib/index.js';
import type { VerifiedTokenCache } from '../../lib/inbound/verifier/verified-token.cache.js';

/** What a verifier's verified-token cache answers for the token `text.slice(offset)` now, as the guard asks it. */
export function cachedIdentity(
  verifier: { readonly verification: { readonly verifiedTokens: VerifiedTokenCache<CallerIdentity> } },
  text: string,
  offset = 0,
): CallerIdentity | undefined {
  return typeof text === 'string' ? verifier.verification.verifiedTokens.get(text, clock.now(), offset) : undefined;
}
