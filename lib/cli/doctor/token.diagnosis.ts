import { compileAllowList, type CallerAllowList } from '../../inbound/allowed-callers.matcher.js';
import { rejectionForError, type InboundRejection } from '../../inbound/guard/inbound-rejection.js';
import { resolveInboundOptions, type ResolvedInboundOptions } from '../../inbound/inbound.options.js';
import type { CallerIdentity } from '../../inbound/verifier/caller-identity.interface.js';
import { IapAssertionVerifier } from '../../inbound/verifier/iap-assertion.verifier.js';
import { IdTokenVerifier } from '../../inbound/verifier/id-token.verifier.js';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { checkCaller } from './caller.check.js';
import { explainDecision } from './token.explanation.js';
import type { CallerDecision, TokenDiagnosis, TokenDiagnosisOptions } from './token-diagnosis.interface.js';
import { bareToken, summarizeToken } from './token.summary.js';

/**
 * Runs a service's exact verifier configuration on `token`, as `CloudRunAuthGuard` would on a
 * request carrying it: the module's validation of `options.inbound`, `IdTokenVerifier` (or
 * `IapAssertionVerifier` for an IAP assertion, with `inbound.iap`), then the allow-list (a
 * route's, else the module's). Fetches the signing keys from the configured `certsUrl`.
 *
 * ```ts
 * const diagnosis = await diagnoseToken(token, { inbound: { audience: 'https://orders-abc-uc.a.run.app', allowedCallers: ['gateway@my-project.iam.gserviceaccount.com'] } });
 * if (!diagnosis.accepted) console.log(diagnosis.reason, diagnosis.cause, diagnosis.nextStep);
 * ```
 * @param token the token, bare or as a `Bearer …` header value.
 * @throws CloudRunAuthConfigError when the options are invalid, naming the field.
 */
export async function diagnoseToken(token: string, options: TokenDiagnosisOptions): Promise<TokenDiagnosis> {
  const inbound = resolveInboundOptions(options.inbound);
  if (!inbound) throw new CloudRunAuthConfigError('is required: the service verifies with them', 'inbound');
  const route =
    options.routeAllowedCallers === undefined
      ? undefined
      : compileAllowList([...options.routeAllowedCallers], '@AllowedCallers()');
  const bare = bareToken(token);
  const summary = summarizeToken(bare);
  const iap = summary.kind === 'iap-assertion' && inbound.iap !== undefined;
  let identity: CallerIdentity | undefined;
  let refusal: InboundRejection | undefined;
  try {
    identity = await verifierFor(inbound, iap).verify(bare);
  } catch (error) {
    refusal = rejectionForError(error);
  }
  const allowList = route ?? inbound.allowedCallers;
  let caller: CallerDecision | undefined;
  if (identity) {
    refusal = allowList && checkCaller(identity, allowList);
    caller = callerDecision(identity, allowList, route !== undefined, refusal === undefined);
  }
  return explainDecision({ inbound, iap, url: options.url, token: summary, refusal, caller });
}

function verifierFor(inbound: ResolvedInboundOptions, iap: boolean): Pick<IdTokenVerifier, 'verify'> {
  // A verifier of its own: no verified-token cache of an application answers for this token.
  return iap ? new IapAssertionVerifier(inbound.iap!) : new IdTokenVerifier(inbound.verifier);
}

function callerDecision(
  identity: CallerIdentity,
  list: CallerAllowList | undefined,
  route: boolean,
  allowed: boolean,
): CallerDecision {
  return {
    email: identity.email,
    subject: identity.subject,
    allowList: list === undefined ? 'none' : route ? 'route' : 'module',
    entries: list?.patterns ?? [],
    allowed,
  };
}
