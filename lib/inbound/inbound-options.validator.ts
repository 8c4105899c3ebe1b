import { assertKnownKeys, assertObject } from '../module/module-options.resolver.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { resolveVerifierOptions } from './verifier/verifier-options.validator.js';
import { compileAllowList } from './allowed-callers.matcher.js';
import type { InboundOptions, ResolvedInboundOptions } from './inbound-options.interface.js';

const INBOUND_KEYS = [
  'audience',
  'allowedCallers',
  'allowAnyCaller',
  'mode',
  'mount',
  'clockToleranceSeconds',
  'certsUrl',
  'maxHeaderBytes',
  'keyRefetchCooldownMs',
  'keyFetchTimeoutMs',
  'verifiedTokenCacheSize',
];
const MIN_HEADER_BYTES = 1024;
const MAX_HEADER_BYTES = 65_536;

/**
 * Validates `inbound` and applies defaults; `undefined` when inbound verification is not configured.
 * Enforces the secure default: an allow-list or an explicit `allowAnyCaller: true` is required.
 * @throws CloudRunAuthConfigError naming the field at fault (`inbound.audience`, ...).
 */
export function resolveInboundOptions(inbound: InboundOptions | undefined): ResolvedInboundOptions | undefined {
  if (inbound === undefined) return undefined;
  assertObject(inbound as unknown, 'inbound');
  assertKnownKeys(inbound, INBOUND_KEYS, 'inbound');
  const { allowAnyCaller = false, mount = false, maxHeaderBytes = 8192 } = inbound;
  // An empty list is no allow-list: it gets the secure-default explanation, not a bare type error.
  const allowedCallers = Array.isArray(inbound.allowedCallers) && inbound.allowedCallers.length === 0 ? undefined : inbound.allowedCallers;
  if (typeof allowAnyCaller !== 'boolean') throw new CloudRunAuthConfigError('must be a boolean', 'inbound.allowAnyCaller');
  if (typeof mount !== 'boolean') throw new CloudRunAuthConfigError('must be a boolean', 'inbound.mount');
  if (
    typeof maxHeaderBytes !== 'number' ||
    !Number.isSafeInteger(maxHeaderBytes) ||
    maxHeaderBytes < MIN_HEADER_BYTES ||
    maxHeaderBytes > MAX_HEADER_BYTES
  ) {
    throw new CloudRunAuthConfigError(`must be an integer from ${MIN_HEADER_BYTES} to ${MAX_HEADER_BYTES}`, 'inbound.maxHeaderBytes');
  }
  const verifier = resolveVerifierOptions({ ...inbound, requireVerifiedEmail: !allowAnyCaller }, 'inbound');
  if (allowedCallers !== undefined && allowAnyCaller) {
    throw new CloudRunAuthConfigError(
      'allowedCallers and allowAnyCaller: true contradict each other; keep the allow-list, or remove it to accept any caller',
      'inbound.allowAnyCaller',
    );
  }
  if (allowedCallers === undefined && !allowAnyCaller) {
    throw new CloudRunAuthConfigError(
      'no allow-list: any Google account can mint an ID token for any audience, so checking the token alone ' +
        'lets anyone in. Set allowedCallers to the service accounts that may call this service (exact emails or ' +
        '"*@PROJECT_ID.iam.gserviceaccount.com"), or set allowAnyCaller: true to accept any valid token explicitly. ' +
        '@AllowedCallers() on routes does not count: routes without it would be open',
      'inbound.allowedCallers',
    );
  }
  return {
    audience: [...verifier.audiences],
    allowedCallers: allowedCallers === undefined ? undefined : compileAllowList(allowedCallers, 'inbound.allowedCallers'),
    allowAnyCaller,
    mode: verifier.mode,
    mount,
    clockToleranceSeconds: verifier.clockToleranceSeconds,
    certsUrl: verifier.certsUrl,
    maxHeaderBytes,
    keyRefetchCooldownMs: verifier.keyRefetchCooldownMs,
    keyFetchTimeoutMs: verifier.keyFetchTimeoutMs,
    verifiedTokenCacheSize: verifier.verifiedTokenCacheSize,
  };
}
