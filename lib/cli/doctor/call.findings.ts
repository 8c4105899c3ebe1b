import { audienceFacts, cloudRunTarget, isOriginOf } from './audience.facts.js';
import { EXIT, type Finding } from './doctor.outcome.js';
import type { CallReport } from './target.call.js';
import type { TokenDiagnosis } from './token-diagnosis.interface.js';
import { describeKind, type TokenSummary } from './token.summary.js';
import { idTokenCommand, shown, sinceNow } from './wording.js';

/** What {@link interpretCall} judges. */
export interface CallFacts {
  url: string;
  token: TokenSummary;
  call: CallReport;
  /** The target's configuration run on the token here (`--target-config`), when given. */
  local: TokenDiagnosis | undefined;
  /** Where that configuration came from, for the sentences. */
  localSource: string | undefined;
  /** The service account the credentials impersonate, for a token without email. */
  impersonates: string | undefined;
}

/** The answer to the call, as one cause and one next step. */
export function interpretCall(facts: CallFacts): Finding {
  const { call } = facts;
  if (call.error !== undefined) return unreachable(facts);
  const status = call.status!;
  if (status !== 401 && status !== 403) return passed(facts, status);
  if (facts.token.kind !== 'id-token' && facts.token.kind !== 'iap-assertion') {
    return {
      cause: `the target refused it (${status}): the token is ${describeKind(facts.token.kind)}`,
      nextStep: `send a Google ID token for the service URL: ${idTokenCommand(facts.url)}`,
      exitCode: EXIT.here,
    };
  }
  if (call.from === 'cloud-run') return status === 403 ? missingInvoker(facts) : cloudRunRefusedToken(facts);
  if (call.from === 'guard') return guardRefused(facts, status);
  return {
    cause: `the service refused the token (${status}), and its answer is neither Cloud Run's refusal page nor CloudRunAuthGuard's challenge`,
    nextStep: "look in the service's logs for why it refused",
    exitCode: EXIT.target,
  };
}

function unreachable({ call, url }: CallFacts): Finding {
  const host = new URL(url).host;
  const cause =
    call.error === 'ECONNREFUSED'
      ? `nothing is listening at ${host}`
      : call.error === 'ENOTFOUND'
        ? `the host ${host} does not resolve`
        : `no answer from ${host}: ${call.error}`;
  return {
    cause: `the call did not reach the service: ${cause}`,
    nextStep:
      call.error === 'ECONNREFUSED'
        ? 'start the service, or correct the URL'
        : "correct the URL (a Cloud Run service's: gcloud run services describe SERVICE --region REGION --format='value(status.url)')",
    exitCode: EXIT.here,
  };
}

function passed({ token, call }: CallFacts, status: number): Finding {
  const who = typeof token.claims?.email === 'string' ? ` as ${token.claims.email}` : '';
  if (status >= 200 && status < 400) {
    return {
      cause: `the call works: HTTP ${status}${call.location ? ` (a redirect to ${call.location})` : ''}${who}`,
      nextStep: 'nothing to fix',
      exitCode: EXIT.works,
    };
  }
  if (status === 503) {
    return {
      cause:
        'the service could not decide (HTTP 503): a service with CloudRunAuthGuard answers it when it cannot fetch its signing keys (reason=keys_unavailable in its log)',
      nextStep:
        "check the service's egress to its certsUrl (on Cloud Run, a VPC connector that routes all traffic needs Cloud NAT), or whether it is up",
      exitCode: EXIT.target,
    };
  }
  return {
    cause:
      `the token got through: HTTP ${status} is the service's own answer, not a refusal of the token` +
      (status === 404 || status === 405
        ? ' (a route that does not exist answers before any guard runs, so this does not show that the guard accepts it)'
        : ''),
    nextStep:
      status === 404 || status === 405
        ? 'call a route that exists (and the method it takes, --method)'
        : 'nothing to fix in authentication',
    exitCode: EXIT.works,
  };
}

/** Cloud Run's 403 page to a valid token: the caller may not invoke the service. */
function missingInvoker({ url, token, impersonates }: CallFacts): Finding {
  const email = typeof token.claims?.email === 'string' ? token.claims.email : impersonates;
  const member = !email
    ? 'serviceAccount:SA_EMAIL'
    : email.endsWith('.gserviceaccount.com')
      ? `serviceAccount:${email}`
      : `user:${email}`;
  const { service, region } = cloudRunTarget(url);
  return {
    cause: `Cloud Run refused the call before it reached the container (its 403 page): ${email ?? 'the caller'} lacks roles/run.invoker on the service`,
    nextStep: `gcloud run services add-iam-policy-binding ${service ?? 'SERVICE'} --region ${region ?? 'REGION'} --member=${member} --role=roles/run.invoker (IAM takes up to a minute to apply)`,
    exitCode: EXIT.target,
  };
}

/** Cloud Run's 401 page: it did not take the token as an ID token for this service. */
function cloudRunRefusedToken({ url, token }: CallFacts): Finding {
  const aud = token.claims?.aud;
  const origin = new URL(url).origin;
  const wrongAudience = audienceFinding(aud, origin);
  if (wrongAudience) return wrongAudience;
  if ((token.expiresInSeconds ?? 0) < 0) return expired(token);
  if (!cloudRunTarget(url).runApp) {
    return {
      cause: `Cloud Run does not take ${origin} as an audience: a custom domain (or a load balancer's URL) counts only as a custom audience of the service`,
      nextStep: `request the token for the service's run.app URL (--audience, or the service's audience option), or add ${origin} to its custom audiences: gcloud run services update SERVICE --region REGION --add-custom-audiences=${origin}`,
      exitCode: EXIT.here,
    };
  }
  return {
    cause:
      "Cloud Run did not verify the token although its aud is the URL called: it was not signed by Google (the emulator's tokens, for one), or the URL is not this service's",
    nextStep: `send a token Google issued for ${origin}: ${idTokenCommand(origin)}`,
    exitCode: EXIT.here,
  };
}

function guardRefused(facts: CallFacts, status: number): Finding {
  const { local, localSource, token, url } = facts;
  if (local) {
    if (!local.accepted) {
      return {
        cause: `${local.cause} (${localSource}: ${local.reason})`,
        nextStep: local.nextStep,
        exitCode: local.fixOn === 'service' ? EXIT.target : EXIT.here,
      };
    }
    return {
      cause: `the service refused the token with ${status}, but the configuration in ${localSource} accepts it: the service runs with another one`,
      nextStep:
        "compare it with the service's deployed configuration; the guard's log line names the reason (reason=…)",
      exitCode: EXIT.target,
    };
  }
  const origin = new URL(url).origin;
  if (status === 403) return callerRefused(token);
  const wrongAudience = audienceFinding(token.claims?.aud, origin);
  if (wrongAudience) return wrongAudience;
  if ((token.expiresInSeconds ?? 0) < 0) return expired(token);
  return {
    cause: `the service refused a valid-looking token for its own URL (${origin}): it verifies another audience (inbound.audience)`,
    nextStep: `add ${origin} to the service's inbound.audience; its log line shows what it expects (reason=invalid_audience, audience=…), and --target-config with its options names the failing claim here`,
    exitCode: EXIT.target,
  };
}

/** The guard's 403: a valid token whose caller the allow-list does not admit. */
function callerRefused(token: TokenSummary): Finding {
  const { email, email_verified: verified, sub } = token.claims ?? {};
  const entry = typeof sub === 'string' ? `"sub:${sub}"` : '"sub:UNIQUE_ID"';
  if (typeof email !== 'string' || email === '') {
    return {
      cause:
        'the token has no email: it was requested without format=full (metadata server) or includeEmail (IAM Credentials), so the allow-list cannot match it',
      nextStep: `request it with format=full (…/identity?audience=URL&format=full; Java: IdTokenProvider.Option.FORMAT_FULL), or add ${entry} to the service's allow-list`,
      exitCode: EXIT.here,
    };
  }
  if (verified !== true) {
    return {
      cause: `the token's email ${shown(email)} is not verified, so the allow-list cannot match it`,
      nextStep: `call as a service account, or add ${entry} to the service's allow-list`,
      exitCode: EXIT.here,
    };
  }
  return {
    cause: `the service's allow-list does not admit ${shown(email)} (a 403 from its guard: the token itself is valid)`,
    nextStep: `add ${shown(email)} to the service's inbound.allowedCallers (or the route's @AllowedCallers())`,
    exitCode: EXIT.target,
  };
}

/** The caller-side audience mistakes, when `aud` is not `origin`; `undefined` when it is. */
function audienceFinding(aud: unknown, origin: string): Finding | undefined {
  const facts = audienceFacts(aud);
  if (facts.oauthClient) {
    return {
      cause: `aud ${shown(aud)} is an OAuth client ID: a user's ID token (gcloud auth print-identity-token without --audiences), which Cloud Run does not accept for a service`,
      nextStep: `mint a service account's token for ${origin}: ${idTokenCommand(origin)}`,
      exitCode: EXIT.here,
    };
  }
  if (facts.hasPath && facts.origin === origin) {
    return {
      cause: `the audience has a path (${shown(aud)}); Cloud Run expects the service URL (its origin, ${origin})`,
      nextStep: `request the token for ${origin}: the library's default audience (drop --audience, or the service's audience option)`,
      exitCode: EXIT.here,
    };
  }
  if (!isOriginOf(aud, origin)) {
    return {
      cause: `the token is for another audience: aud ${shown(aud)} is not the URL called (${origin})`,
      nextStep: `request the token for ${origin}, the URL's origin: the library's default (drop --audience, or fix the service's audience option)`,
      exitCode: EXIT.here,
    };
  }
  return undefined;
}

function expired(token: TokenSummary): Finding {
  return {
    cause: `the token expired ${sinceNow(-(token.expiresInSeconds ?? 0))} ago`,
    nextStep: 'get a fresh one: ID tokens live an hour, and a client that keeps one must fetch the next before exp',
    exitCode: EXIT.here,
  };
}
