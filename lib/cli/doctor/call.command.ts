import type { InboundOptions } from '../../inbound/inbound.options.js';
import { resolveModuleOptions, type CloudRunAuthModuleOptions } from '../../module/cloud-run-auth.options.js';
import type { CredentialsOptions } from '../../outbound/credentials/credentials.options.js';
import { GoogleIdTokenProvider } from '../../outbound/token/google-id-token.provider.js';
import { isLoopbackUrl } from '../../shared/options/option.assertions.js';
import type { IdTokenProvider } from '../../outbound/token/id-token.provider.js';
import { audienceFacts } from './audience.facts.js';
import { interpretCall } from './call.findings.js';
import { DoctorInputError, loadModuleOptions } from './config.loader.js';
import { checkCredentials, type CredentialsReport } from './credentials.check.js';
import type { CallArgs } from './doctor.args.js';
import { EXIT, type Finding } from './doctor.outcome.js';
import { interpretMintFailure, mintIdToken } from './mint.findings.js';
import { callTarget, type CallReport } from './target.call.js';
import type { TokenDiagnosis } from './token-diagnosis.interface.js';
import { diagnoseToken } from './token.diagnosis.js';
import { readTokenInput } from './token.input.js';
import { summarizeToken, type TokenSummary } from './token.summary.js';

/** What `doctor call` found, step by step; its JSON output. Never the token. */
export interface CallResult extends Finding {
  command: 'call';
  url: string;
  /** `services[<name>]` of `--config`, when the call stands for one. */
  service: string | undefined;
  /** The credentials the library would use; `undefined` for a pasted token or a custom token provider. */
  credentials: CredentialsReport | undefined;
  token: {
    /** Minted here with the credentials, or read from `--token-file`/`--stdin`. */
    from: 'minted' | 'input';
    audience: string | undefined;
    /** Why this audience. */
    audienceFrom: string | undefined;
    /** Time to mint it, in ms. */
    ms?: number;
    /** Why none could be minted. */
    error?: string;
    summary?: TokenSummary;
  };
  call: CallReport | undefined;
  /** The target's verifier configuration run on the token here, and where it came from. */
  verification: (TokenDiagnosis & { source: string }) | undefined;
  notes: string[];
}

/** Runs `doctor call`: credentials, token, one call, and what it all means. */
export async function runCall(args: CallArgs, env: NodeJS.ProcessEnv): Promise<CallResult> {
  const notes: string[] = [];
  const caller = args.config === undefined ? undefined : await loadModuleOptions(args.config);
  const target = await targetOptions(args, caller, notes);
  const plan = planCall(args, caller, notes);
  const result: CallResult = {
    command: 'call',
    url: plan.url,
    service: args.service,
    credentials: undefined,
    token: { from: args.tokenFile === undefined ? 'minted' : 'input', audience: undefined, audienceFrom: undefined },
    call: undefined,
    verification: undefined,
    notes,
    cause: '',
    nextStep: '',
    exitCode: EXIT.here,
  };
  const token =
    args.tokenFile === undefined ? await mint(plan, args, env, result) : await readTokenInput(args.tokenFile);
  if (token === undefined) return result;
  const summary = summarizeToken(token);
  result.token.summary = summary;
  result.call = await callTarget(plan.url, token, {
    method: args.method,
    header: plan.header,
    timeoutMs: args.timeoutMs,
  });
  if (target) {
    const diagnosis = await diagnoseToken(token, { inbound: target.inbound, url: plan.url });
    result.verification = { ...diagnosis, source: target.source };
  }
  const finding = interpretCall({
    url: plan.url,
    token: summary,
    call: result.call,
    local: result.verification,
    localSource: target?.source,
    impersonates: result.credentials?.impersonates,
  });
  return { ...result, ...finding };
}

/**
 * Mints the token as the library would for the plan, recording the credentials and the mint in
 * `result`; `undefined` (with `result`'s cause and next step set) when none could be had.
 */
async function mint(
  plan: CallPlan,
  args: CallArgs,
  env: NodeJS.ProcessEnv,
  result: CallResult,
): Promise<string | undefined> {
  result.token.audience = plan.audience;
  result.token.audienceFrom = plan.audienceFrom;
  if (plan.credentials) {
    result.credentials = (await checkCredentials(plan.credentials, env)).report;
  } else {
    result.notes.push(
      `tokens come from a custom tokenProvider (${plan.provider.constructor.name}): doctor cannot see its credentials`,
    );
  }
  const minted = await mintIdToken(plan.provider, plan.audience, args.timeoutMs);
  result.token.ms = minted.ms;
  if ('token' in minted) return minted.token;
  result.token.error = minted.error;
  Object.assign(result, interpretMintFailure(minted.error, result.credentials));
  return undefined;
}

interface CallPlan {
  url: string;
  audience: string;
  audienceFrom: string;
  header: CallReport['header'];
  provider: IdTokenProvider;
  /** The credentials options behind `provider`; `undefined` for a custom provider. */
  credentials: CredentialsOptions | undefined;
}

/** Where the call goes and with which identity: from `--service` of the module options, or from the command line. */
function planCall(args: CallArgs, options: CloudRunAuthModuleOptions | undefined, notes: string[]): CallPlan {
  const resolved = options && resolveModuleOptions(options);
  if (args.service !== undefined) {
    const service = resolved!.services.get(args.service);
    if (!service) {
      throw new DoctorInputError(
        `${args.config} has no service ${JSON.stringify(args.service)} (it has: ${[...resolved!.services.keys()].join(', ') || 'none'})`,
        `pass one of its service names to --service`,
      );
    }
    const definition = options!.services!.find((s) => s.name === args.service)!;
    const url = args.url ?? service.url;
    // allowInsecureHttp lets tokens go in clear text to the service's own host only.
    assertSecure(url, service.insecureHttp && new URL(url).host === new URL(service.url).host);
    if (!service.authenticate) {
      notes.push(`services[${service.name}] has authenticate: false: the library sends it no token`);
    }
    if (service.transport === 'grpc') {
      notes.push(
        `services[${service.name}] is a gRPC service: doctor sends one plain HTTP request, which Cloud Run's IAM check judges as it judges a call; past that, the container's answer is not a gRPC status`,
      );
    }
    return {
      url,
      audience: args.audience ?? service.audience,
      audienceFrom:
        args.audience !== undefined
          ? '--audience'
          : definition.audience !== undefined
            ? `services[${service.name}].audience`
            : `the origin of services[${service.name}].url: what the library sends by default`,
      header: service.tokenHeader,
      provider: service.tokenProvider,
      // As the module's registry merges them: the service's own over the module's.
      credentials: resolved!.identities.customProvider
        ? undefined
        : { ...options!.credentials, ...definition.credentials },
    };
  }
  const url = args.url!;
  assertSecure(url, false);
  return {
    url,
    audience: args.audience ?? audienceFacts(url).origin!,
    audienceFrom: args.audience !== undefined ? '--audience' : "the URL's origin: what the library sends by default",
    header: 'authorization',
    provider: resolved?.identities.moduleProvider ?? new GoogleIdTokenProvider({}),
    credentials: resolved?.identities.customProvider ? undefined : (options?.credentials ?? {}),
  };
}

/** Refuses to send a token in clear text across a network, as the library refuses such a service URL. */
function assertSecure(url: string, insecureHttpAllowed: boolean): void {
  const parsed = new URL(url);
  if (parsed.protocol === 'https:' || isLoopbackUrl(parsed) || insecureHttpAllowed) return;
  throw new DoctorInputError(
    `${url} is plain http to ${parsed.hostname}, not to this machine: the token would cross the network in clear text`,
    'call the service by its https URL; on a local network, use --service with a service that sets allowInsecureHttp',
  );
}

/** The target's `inbound` options to run on the token: `--target-config`, or `--config` when it stands for the target. */
async function targetOptions(
  args: CallArgs,
  caller: CloudRunAuthModuleOptions | undefined,
  notes: string[],
): Promise<{ inbound: InboundOptions; source: string } | undefined> {
  const file = args.targetConfig ?? (args.service === undefined ? args.config : undefined);
  if (file === undefined) return undefined;
  const options = file === args.config && caller ? caller : await loadModuleOptions(file);
  if (options.inbound === undefined) {
    notes.push(`${file} has no inbound options: there is no verifier configuration to run on the token here`);
    return undefined;
  }
  return { inbound: options.inbound, source: `the inbound options of ${file}` };
}
