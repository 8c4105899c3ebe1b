import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../shared/options/option.assertions.js';
import { compileAllowList, isIapOnlyPattern, type CallerAllowList } from './allowed-callers.matcher.js';
import type { InboundIapOptions, InboundOptions } from './inbound-options.interface.js';
import type { ResolvedInboundOptions } from './resolved-inbound-options.interface.js';
import type { ResolvedIapAssertionVerifierOptions } from './verifier/iap-options.interface.js';
import { resolveIapVerifierOptions } from './verifier/iap-options.validator.js';
import type { IdTokenVerifierOptions, ResolvedVerifierOptions } from './verifier/verifier-options.interface.js';
import { resolveVerifierOptions, VERIFIER_OPTION_KEYS } from './verifier/verifier-options.validator.js';

const GUARD_KEYS = ['iap', 'allowedCallers', 'allowAnyCaller', 'mount', 'maxHeaderBytes', 'extractToken'];
const IAP_KEYS = ['audience', 'certsUrl'];
const INBOUND_KEYS = [...VERIFIER_OPTION_KEYS.filter((key) => key !== 'requireVerifiedEmail'), ...GUARD_KEYS];
const MIN_HEADER_BYTES = 1024;
const MAX_HEADER_BYTES = 65_536;

/**
 * Validates `inbound` and applies defaults; `undefined` when inbound verification is not configured.
 * Enforces the secure default: an allow-list or an explicit `allowAnyCaller: true` is required.
 * `mount` is the module's to check: it decides which providers exist.
 * @throws CloudRunAuthConfigError naming the field at fault (`inbound.audience`, ...).
 */
export function resolveInboundOptions(inbound: InboundOptions | undefined): ResolvedInboundOptions | undefined {
  if (inbound === undefined) return undefined;
  assertObject(inbound as unknown, 'inbound');
  assertKnownKeys(inbound, INBOUND_KEYS, 'inbound');
  const {
    iap,
    allowedCallers: callers,
    allowAnyCaller = false,
    mount: _mount,
    maxHeaderBytes = 8192,
    extractToken,
    ...verifierOptions
  } = inbound;
  // An empty list is no allow-list: it gets the secure-default explanation, not a bare type error.
  const allowedCallers = Array.isArray(callers) && callers.length === 0 ? undefined : callers;
  if (typeof allowAnyCaller !== 'boolean')
    throw new CloudRunAuthConfigError('must be a boolean', 'inbound.allowAnyCaller');
  if (
    typeof maxHeaderBytes !== 'number' ||
    !Number.isSafeInteger(maxHeaderBytes) ||
    maxHeaderBytes < MIN_HEADER_BYTES ||
    maxHeaderBytes > MAX_HEADER_BYTES
  ) {
    throw new CloudRunAuthConfigError(
      `must be an integer from ${MIN_HEADER_BYTES} to ${MAX_HEADER_BYTES}`,
      'inbound.maxHeaderBytes',
    );
  }
  if (extractToken !== undefined && typeof extractToken !== 'function') {
    throw new CloudRunAuthConfigError(
      'must be a function (context: ExecutionContext) => string | undefined',
      'inbound.extractToken',
    );
  }
  // The verifier accepts tokens without a verified email: such a token is valid, only its caller
  // may not be matchable, which the guard's allow-list check answers with a 403 (insufficient_scope).
  // As a 401 (invalid_token), clients would refresh and retry a token that can only fail again.
  // audience may be absent when iap is set; resolveVerifierOptions checks that.
  const verifier = resolveVerifierOptions(
    { ...verifierOptions, requireVerifiedEmail: false } as IdTokenVerifierOptions,
    'inbound',
    iap !== undefined,
  );
  const resolvedIap = iap === undefined ? undefined : resolveIap(iap, verifier);
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
  return Object.freeze({
    verifier,
    iap: resolvedIap,
    allowedCallers:
      allowedCallers === undefined ? undefined : compileModuleAllowList(allowedCallers, resolvedIap !== undefined),
    allowAnyCaller,
    maxHeaderBytes,
    extractToken,
  });
}

/** `inbound.iap`, with the key and cache options of `inbound` (already validated there). */
function resolveIap(iap: InboundIapOptions, verifier: ResolvedVerifierOptions): ResolvedIapAssertionVerifierOptions {
  assertObject(iap as unknown, 'inbound.iap');
  assertKnownKeys(iap, IAP_KEYS, 'inbound.iap');
  const { clockToleranceSeconds, verifiedTokenCacheSize, keyFetchTimeoutMs, keyRefetchCooldownMs } = verifier;
  return resolveIapVerifierOptions(
    {
      audience: iap.audience,
      certsUrl: iap.certsUrl,
      clockToleranceSeconds,
      verifiedTokenCacheSize,
      keyFetchTimeoutMs,
      keyRefetchCooldownMs,
    },
    'inbound.iap',
  );
}

/** The module's list; `*@DOMAIN` patterns of people match IAP callers only, so they need `inbound.iap`. */
function compileModuleAllowList(patterns: string[], iap: boolean): CallerAllowList {
  const list = compileAllowList(patterns, 'inbound.allowedCallers');
  const iapOnly = list.patterns.find(isIapOnlyPattern);
  if (iapOnly !== undefined && !iap) {
    throw new CloudRunAuthConfigError(
      `"${iapOnly}" matches callers that come through Identity-Aware Proxy only, and inbound.iap is not set: ` +
        'ID-token callers are matched by exact email or "*@PROJECT_ID.iam.gserviceaccount.com"',
      'inbound.allowedCallers',
    );
  }
  return list;
}
