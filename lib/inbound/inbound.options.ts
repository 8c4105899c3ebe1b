import type { ExecutionContext, Type } from '@nestjs/common';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../shared/options/option.assertions.js';
import { compileAllowList, isIapOnlyPattern, type CallerAllowList } from './allowed-callers.matcher.js';
import type { CloudRunAuthGuard } from './guard/cloud-run-auth.guard.js';
import {
  resolveIapVerifierOptions,
  type IapAssertionVerifierOptions,
  type ResolvedIapAssertionVerifierOptions,
} from './verifier/iap-verifier.options.js';
import {
  resolveVerifierOptions,
  VERIFIER_OPTION_KEYS,
  type IdTokenVerifierOptions,
  type ResolvedVerifierOptions,
} from './verifier/id-token-verifier.options.js';

/** `inbound.iap`: accept the signed assertions of Identity-Aware Proxy. */
export type InboundIapOptions = Pick<IapAssertionVerifierOptions, 'audience' | 'certsUrl'>;

/**
 * Configuration of inbound verification (`inbound` in the module options): the verifier's
 * options (`audience`, `mode`, `certsUrl`, ...), IAP's (`iap`), plus who may call and how the
 * guard is mounted. At least one of `audience` (Google ID tokens) and `iap` is required.
 *
 * Secure by default: boot fails unless `allowedCallers` is non-empty or `allowAnyCaller` is
 * `true`. Route-level `@AllowedCallers()` does not count, because every route without it
 * (including ones added later, or all of them with `mount`) would then accept any
 * Google account: anyone can mint a Google-signed ID token for any audience.
 */
export interface InboundOptions extends Omit<IdTokenVerifierOptions, 'requireVerifiedEmail' | 'audience'> {
  /**
   * Accepted `aud` values of Google ID tokens (`Authorization` / `X-Serverless-Authorization`),
   * matched as {@link IdTokenVerifierOptions.audience} says.
   * @default required unless `iap` is set (then only IAP assertions are accepted)
   */
  audience?: string | string[];
  /**
   * Accept the signed assertion of Identity-Aware Proxy (`x-goog-iap-jwt-assertion`, ES256,
   * issuer `https://cloud.google.com/iap`) for `iap.audience`: `/projects/NUMBER/locations/REGION/services/NAME`
   * or `/projects/NUMBER/global/backendServices/ID`. A request that carries one is judged by it
   * alone (an invalid one is a 401, never a fallback to an ID token); the unsigned
   * `x-goog-authenticated-user-*` headers are never read. `iap.certsUrl` defaults to IAP's keys,
   * `https://www.gstatic.com/iap/verify/public_key-jwk`; the other key and cache options apply to both.
   * @default none (IAP assertions are not accepted)
   */
  iap?: Pick<IapAssertionVerifierOptions, 'audience' | 'certsUrl'>;
  /**
   * Callers allowed on every guarded route without `@AllowedCallers()`: exact emails (ASCII only,
   * compared ASCII case-insensitively, as Google does), `*@PROJECT_ID.iam.gserviceaccount.com` for
   * all service accounts of one project, for callers that come through IAP only `*@DOMAIN` for all
   * users of a domain, and for ID-token callers `sub:UNIQUE_ID` (the digits of the token's `sub`,
   * which matches with or without email). Nothing looser is accepted. A valid token that matches
   * no entry, or has no verified email to match, is refused with 403.
   * @default none (then `allowAnyCaller: true` is required)
   */
  allowedCallers?: string[];
  /**
   * Accept any caller with a valid token for this audience on routes without `@AllowedCallers()`.
   * Anyone with a Google account can obtain such a token; use only behind another access control.
   * Cannot be combined with `allowedCallers`.
   * @default false
   */
  allowAnyCaller?: boolean;
  /**
   * Guard every route (`APP_GUARD`); opt routes out with `@SkipCloudRunAuth()`. `true` mounts
   * `CloudRunAuthGuard`; a subclass of it (`mount: AuditedGuard`) is mounted instead, with
   * dependency injection. Not available in `forRootAsync`'s factory: set `mount` in the
   * `forRootAsync()` options themselves.
   * @default false (bind it with `@UseGuards(CloudRunAuthGuard)` where needed)
   */
  mount?: boolean | Type<CloudRunAuthGuard>;
  /** Largest accepted token header value, in bytes (1024 to 65536); larger ones are rejected unparsed. @default 8192 */
  maxHeaderBytes?: number;
  /**
   * Where the token is in execution contexts the guard cannot read on its own: `ws`, and `rpc`
   * transports other than gRPC (HTTP, GraphQL and gRPC are built in and never call it). Returns
   * the token (`eyJ…`, or a `Bearer eyJ…` value), or `undefined` when there is none; the token is
   * then verified and the allow-list applied exactly as for HTTP. Without it, such contexts are
   * refused (fail closed) with a log line naming the context type.
   * @default none (such contexts are refused)
   * @example extractToken: (context) => context.switchToWs().getData<{ token?: string }>()?.token
   */
  extractToken?: (context: ExecutionContext) => string | undefined;
}

/**
 * `InboundOptions` after validation, with defaults applied (frozen): what `CloudRunAuthGuard`
 * and its subclasses inject with `@Inject(CLOUD_RUN_AUTH_INBOUND_OPTIONS)`.
 */
export interface ResolvedInboundOptions {
  /** The verifier's options, as `IdTokenVerifier` uses them; `audiences` is empty when ID tokens are not accepted (IAP only). */
  readonly verifier: ResolvedVerifierOptions;
  /** `inbound.iap` with the shared key and cache options, as `IapAssertionVerifier` uses them; `undefined` without IAP. */
  readonly iap: ResolvedIapAssertionVerifierOptions | undefined;
  /** The module-level allow-list; `undefined` only with `allowAnyCaller`. */
  readonly allowedCallers: CallerAllowList | undefined;
  readonly allowAnyCaller: boolean;
  readonly maxHeaderBytes: number;
  /** `InboundOptions.extractToken`, when set. */
  readonly extractToken?: (context: ExecutionContext) => string | undefined;
}

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
