import type { InboundRejection } from '../../inbound/guard/inbound-rejection.js';
import { rejectionHint } from '../../inbound/guard/rejection.hints.js';
import type { ResolvedInboundOptions } from '../../inbound/inbound.options.js';
import { GOOGLE_CERTS_URL } from '../../inbound/verifier/id-token-verifier.options.js';
import { audienceFacts, isOriginOf } from './audience.facts.js';
import { probeKeys } from './keys.probe.js';
import type { CallerDecision, FailedClaim, TokenDiagnosis } from './token-diagnosis.interface.js';
import { describeKind, type TokenSummary } from './token.summary.js';
import { idTokenCommand, shown, sinceNow } from './wording.js';

/** What {@link explainDecision} judges. */
export interface Decision {
  inbound: ResolvedInboundOptions;
  /** The token was verified as an IAP assertion (with `inbound.iap`). */
  iap: boolean;
  url: string | undefined;
  token: TokenSummary;
  refusal: InboundRejection | undefined;
  caller: CallerDecision | undefined;
}

type Explained = Pick<TokenDiagnosis, 'cause' | 'nextStep' | 'fixOn'> & { failedClaim?: FailedClaim };

/** The guard's decision with its cause, next step and failing claim. */
export async function explainDecision(decision: Decision): Promise<TokenDiagnosis> {
  const { refusal, token, caller } = decision;
  const explained = refusal ? await explainRefusal(decision, refusal) : explainAcceptance(decision);
  return {
    accepted: refusal === undefined,
    status: refusal?.status ?? 200,
    reason: refusal?.reason,
    detail: refusal?.detail,
    token,
    failedClaim: explained.failedClaim,
    caller,
    fixOn: refusal ? explained.fixOn : undefined,
    cause: explained.cause,
    nextStep: explained.nextStep,
  };
}

function explainAcceptance({ inbound, iap, token, caller }: Decision): Explained {
  const who = caller?.email ?? (caller ? `sub:${caller.subject}` : 'the caller');
  const list =
    caller?.allowList === 'none'
      ? 'any caller is allowed (allowAnyCaller)'
      : `${who} is in ${caller?.allowList === 'route' ? "the route's @AllowedCallers()" : 'inbound.allowedCallers'}`;
  const stripped =
    token.signature === 'removed-by-google'
      ? "; its signature was removed by Cloud Run, which mode 'cloud-run-iam' accepts only in a header the client sent"
      : '';
  return {
    cause: `the guard lets it through: a valid ${iap ? 'IAP assertion' : 'ID token'} for ${shown(token.claims?.aud)}, and ${list}${stripped}`,
    nextStep: `nothing to fix in the token or ${inbound.iap ? 'inbound' : 'inbound.audience'}; if calls still fail, run \`cloud-run-auth doctor call <url>\` where the caller runs`,
    fixOn: undefined,
  };
}

async function explainRefusal(decision: Decision, refusal: InboundRejection): Promise<Explained> {
  const { token, inbound, iap } = decision;
  if (token.kind === 'access-token' || token.kind === 'not-a-jwt' || token.kind === 'other-jwt') {
    return {
      cause: `${describeKind(token.kind)}: Cloud Run and the guard accept Google-signed ID tokens only`,
      nextStep: `send a Google ID token for the service URL instead: ${idTokenCommand(decision.url ?? inbound.verifier.audiences[0])}`,
      fixOn: 'caller',
      failedClaim:
        token.kind === 'other-jwt' ? claim('iss', token.claims?.iss, 'https://accounts.google.com') : undefined,
    };
  }
  if (token.kind === 'iap-assertion' && !iap) {
    return {
      cause:
        'an Identity-Aware Proxy assertion, and the service has no inbound.iap: the guard does not read IAP assertions without it',
      nextStep: `set inbound.iap: { audience: ${shown(token.claims?.aud)} } if this service is behind IAP`,
      fixOn: 'service',
    };
  }
  switch (refusal.reason) {
    case 'invalid_audience':
      return explainAudience(decision);
    case 'expired':
      return {
        cause: `the token expired ${sinceNow(-(token.expiresInSeconds ?? 0))} ago`,
        nextStep:
          'get a fresh token: ID tokens live an hour, and a client that keeps one must fetch the next before exp (IdTokenCache does); if it was fresh, check the clocks (NTP)',
        fixOn: 'caller',
        failedClaim: claim(
          'exp',
          token.claims?.exp,
          `later than now minus ${inbound.verifier.clockToleranceSeconds} s`,
        ),
      };
    case 'unknown_kid':
      return explainUnknownKey(decision);
    case 'signature_removed':
      return {
        cause:
          "Cloud Run checked the token and removed its signature (…SIGNATURE_REMOVED_BY_GOOGLE), and mode 'verify' needs one",
        nextStep: rejectionHint('signature_removed'),
        fixOn: 'service',
        failedClaim: claim('mode', inbound.verifier.mode, 'cloud-run-iam'),
      };
    case 'missing_email':
    case 'email_not_verified':
      return explainEmail(decision, refusal.reason);
    case 'caller_not_allowed':
      return explainAllowList(decision);
    case 'keys_unavailable': {
      const certsUrl = iap ? inbound.iap!.certsUrl : inbound.verifier.certsUrl;
      const { failure, hint } = await probeKeys(certsUrl, inbound.verifier.keyFetchTimeoutMs);
      return {
        cause: `the signing keys could not be fetched from ${certsUrl}: ${failure}`,
        nextStep: hint,
        fixOn: 'keys',
      };
    }
    default:
      return {
        cause: `the guard refuses it (${refusal.reason}): ${refusal.detail}`,
        nextStep: rejectionHint(refusal.reason),
        fixOn: 'caller',
        failedClaim: headerClaim(refusal.reason, token),
      };
  }
}

function explainAudience({ token, inbound, iap, url }: Decision): Explained {
  const aud = token.claims?.aud;
  const expected = iap ? inbound.iap!.audiences : inbound.verifier.audiences;
  const failedClaim = claim('aud', aud, expected.length === 1 ? expected[0] : expected);
  const facts = audienceFacts(aud);
  if (facts.oauthClient) {
    return {
      cause: `aud ${shown(aud)} is an OAuth client ID: a user's ID token (gcloud auth print-identity-token without --audiences, or a user's application-default credentials), which Cloud Run does not accept for a service`,
      nextStep: `mint a service account's token for the service URL: ${idTokenCommand(url ?? expected[0])}`,
      fixOn: 'caller',
      failedClaim,
    };
  }
  const origin = url ? audienceFacts(url).origin : expected.map((a) => audienceFacts(a).origin).find(Boolean);
  if (facts.hasPath) {
    return {
      cause: `the audience has a path (${shown(aud)}); Cloud Run expects the service URL (its origin${origin ? `, ${origin}` : ''})`,
      nextStep: `request the token for ${origin ?? 'the service URL'}, the URL's origin: the library's default audience (drop the service's audience option)`,
      fixOn: 'caller',
      failedClaim,
    };
  }
  if (url && isOriginOf(aud, url)) {
    return {
      cause: `the service verifies another audience: callers ask for its URL (${shown(aud)}), and inbound.audience is ${shown(expected)}`,
      nextStep: `add ${shown(aud)} to the service's inbound.audience (it takes an array), or have every caller request ${shown(expected[0])}`,
      fixOn: 'service',
      failedClaim,
    };
  }
  return {
    cause: `the token is for another audience: aud ${shown(aud)} is not one the service verifies (${shown(expected)})`,
    nextStep: `request the token for ${shown(expected[0])}; if ${shown(aud)} is a URL of this service, add it to inbound.audience`,
    fixOn: 'caller',
    failedClaim,
  };
}

function explainUnknownKey({ token, inbound, iap }: Decision): Explained {
  const certsUrl = iap ? inbound.iap!.certsUrl : inbound.verifier.certsUrl;
  const local = /^http:\/\/(127\.|localhost|\[::1\])/.test(certsUrl);
  const why = local
    ? 'the emulator there did not sign it (a token from Google, from another emulator, or from this one before a restart: it makes new keys on each start)'
    : certsUrl === GOOGLE_CERTS_URL
      ? "Google did not sign it: the emulator's tokens (or a forged one) are not verifiable with Google's keys"
      : 'another issuer signed it, or it was forged';
  return {
    cause: `the token's signing key (kid ${shown(token.header?.kid)}) is not among the keys at ${certsUrl}: ${why}`,
    nextStep: local
      ? 'mint a new token from the emulator that runs now, and verify with its certsUrl'
      : certsUrl === GOOGLE_CERTS_URL
        ? "to verify the emulator's tokens, set inbound.certsUrl to its JWKS (http://127.0.0.1:8090/oauth2/v3/certs by default); in production, send Google-issued tokens"
        : "set inbound.certsUrl to the issuer's JWKS",
    fixOn: 'caller',
    failedClaim: claim('kid', token.header?.kid, `a key of ${certsUrl}`),
  };
}

function explainEmail({ token }: Decision, reason: 'missing_email' | 'email_not_verified'): Explained {
  const sub = typeof token.claims?.sub === 'string' ? `"sub:${token.claims.sub}"` : '"sub:UNIQUE_ID"';
  if (reason === 'email_not_verified') {
    return {
      cause: "the token's email is not verified (email_verified is not true), so no allow-list email can match it",
      nextStep: `call as a service account, or list the caller by its unique ID: ${sub}`,
      fixOn: 'caller',
      failedClaim: claim('email_verified', token.claims?.email_verified, true),
    };
  }
  return {
    cause:
      'the token has no email claim: it was requested without format=full (metadata server) or includeEmail (IAM Credentials), so no allow-list email can match it',
    nextStep: `request it with format=full (…/identity?audience=URL&format=full; generateIdToken with includeEmail: true; Java: IdTokenProvider.Option.FORMAT_FULL), or list the caller as ${sub}`,
    fixOn: 'caller',
    failedClaim: claim('email', undefined, "the caller's email (format=full)"),
  };
}

function explainAllowList({ caller }: Decision): Explained {
  const where = caller?.allowList === 'route' ? "the route's @AllowedCallers()" : 'inbound.allowedCallers';
  const email = caller?.email ?? 'the caller';
  return {
    cause: `caller ${shown(email)} is not in the allow-list (${where}: ${shown(caller?.entries ?? [])})`,
    nextStep: `add ${shown(email)} to ${where} of the service if it should be allowed`,
    fixOn: 'service',
    failedClaim: claim('email', caller?.email, caller?.entries ?? []),
  };
}

function claim(name: string, received: unknown, expected: unknown): FailedClaim {
  return { claim: name, received, expected };
}

/** The header field a structural refusal is about, when it is one. */
function headerClaim(reason: string, token: TokenSummary): FailedClaim | undefined {
  if (reason === 'unsupported_alg') return claim('alg', token.header?.alg, 'RS256');
  if (reason === 'missing_kid') return claim('kid', token.header?.kid, 'a key id');
  if (reason === 'invalid_issuer') return claim('iss', token.claims?.iss, 'https://accounts.google.com');
  return undefined;
}
