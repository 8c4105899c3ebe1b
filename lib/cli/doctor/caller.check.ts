import type { CallerAllowList } from '../../inbound/allowed-callers.matcher.js';
import { CloudRunAuthGuard } from '../../inbound/guard/cloud-run-auth.guard.js';
import type { InboundRejection } from '../../inbound/guard/inbound-rejection.js';
import type { CallerIdentity } from '../../inbound/verifier/caller-identity.interface.js';

/**
 * The guard's own allow-list decision, outside a request: its `checkCaller()` hook, so that the
 * reason codes (`caller_not_allowed`, `missing_email`, `email_not_verified`) are the guard's.
 */
class AllowListCheck extends CloudRunAuthGuard {
  decide(identity: CallerIdentity, allowList: CallerAllowList): InboundRejection | undefined {
    return this.checkCaller(identity, allowList);
  }
}

let check: AllowListCheck | undefined;

/** `undefined` when the guard lets `identity` through `allowList`, else the guard's refusal. */
export function checkCaller(identity: CallerIdentity, allowList: CallerAllowList): InboundRejection | undefined {
  return (check ??= new AllowListCheck()).decide(identity, allowList);
}
