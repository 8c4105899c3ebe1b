import {
  resolveModuleOptions,
  type CloudRunAuthModuleOptions,
  type ResolvedCloudRunAuthOptions,
} from '../../module/cloud-run-auth.options.js';
import type { CredentialsOptions } from '../../outbound/credentials/credentials.options.js';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { cloudRunVariable } from '../../shared/runtime/cloud-run.env.js';
import { cloudRunProblems, type ConfigProblem } from './config.cloud-run.js';
import { loadModuleOptions } from './config.loader.js';
import { checkCredentials, type CredentialsReport } from './credentials.check.js';
import type { ConfigArgs } from './doctor.args.js';
import { EXIT, type Finding } from './doctor.outcome.js';

/** One service the application calls, as the module resolved it. */
export interface ServiceSummary {
  name: string;
  url: string;
  transport: 'http' | 'grpc';
  audience: string;
  /** `audience`: set on the service; `url origin`: the library's default. */
  audienceFrom: 'audience' | 'url origin';
  tokenHeader: string;
  authenticate: boolean;
  /** Index of its identity in {@link ConfigResult.identities}. */
  identity: number;
}

/** One identity that mints tokens, and the services that use it. */
export interface IdentitySummary {
  /** Service names; `(module)` for the module's own credentials when no service uses them. */
  services: string[];
  credentials: CredentialsReport | undefined;
  /** The class of a custom `tokenProvider`. */
  customProvider: string | undefined;
}

/** The inbound side as resolved: what the guard accepts, and from whom. */
export interface InboundSummary {
  audiences: readonly string[];
  mode: 'verify' | 'cloud-run-iam';
  certsUrl: string;
  iap: { audiences: readonly string[]; certsUrl: string } | undefined;
  allowedCallers: readonly string[] | undefined;
  allowAnyCaller: boolean;
  /** `false`, `CloudRunAuthGuard`, or the class mounted. */
  mount: string;
}

/** What `doctor config` found; its JSON output. */
export interface ConfigResult extends Finding {
  command: 'config';
  file: string;
  valid: boolean;
  error: ConfigProblem | undefined;
  services: ServiceSummary[];
  identities: IdentitySummary[];
  inbound: InboundSummary | undefined;
  /** `judged`: on Cloud Run, or asked with `--cloud-run`: then its problems are errors. */
  cloudRun: { judged: boolean; refusals: ConfigProblem[]; failures: ConfigProblem[] };
}

/** Runs `doctor config`: loads, validates and describes module options. */
export async function runConfig(args: ConfigArgs): Promise<ConfigResult> {
  const options = await loadModuleOptions(args.file);
  const judged = args.cloudRun || cloudRunVariable() !== undefined;
  const result: ConfigResult = {
    command: 'config',
    file: args.file,
    valid: false,
    error: undefined,
    services: [],
    identities: [],
    inbound: undefined,
    cloudRun: { judged, refusals: [], failures: [] },
    cause: '',
    nextStep: '',
    exitCode: EXIT.here,
  };
  let resolved: ResolvedCloudRunAuthOptions;
  try {
    resolved = resolveModuleOptions(options);
  } catch (error) {
    if (!(error instanceof CloudRunAuthConfigError)) throw error;
    result.error = { field: error.field, problem: error.problem };
    return {
      ...result,
      cause: `invalid configuration at ${error.field}: ${error.problem}`,
      nextStep: `fix ${error.field} in ${args.file}: CloudRunAuthModule refuses to start with it`,
    };
  }
  result.valid = true;
  await describe(options, resolved, result);
  Object.assign(result.cloudRun, cloudRunProblems(options, resolved));
  return { ...result, ...conclude(result, args.file) };
}

async function describe(
  options: CloudRunAuthModuleOptions,
  resolved: ResolvedCloudRunAuthOptions,
  result: ConfigResult,
): Promise<void> {
  const identityOf = await describeIdentities(options, resolved, result.identities);
  for (const service of resolved.services.values()) {
    const definition = options.services!.find((candidate) => candidate.name === service.name)!;
    result.services.push({
      name: service.name,
      url: service.url,
      transport: service.transport,
      audience: service.audience,
      audienceFrom: definition.audience !== undefined ? 'audience' : 'url origin',
      tokenHeader: service.tokenHeader,
      authenticate: service.authenticate,
      identity: identityOf.get(service.name) ?? 0,
    });
  }
  const inbound = resolved.inbound;
  if (inbound) {
    const mount: unknown = options.inbound?.mount;
    result.inbound = {
      audiences: inbound.verifier.audiences,
      mode: inbound.verifier.mode,
      certsUrl: inbound.verifier.certsUrl,
      iap: inbound.iap && { audiences: inbound.iap.audiences, certsUrl: inbound.iap.certsUrl },
      allowedCallers: inbound.allowedCallers?.patterns,
      allowAnyCaller: inbound.allowAnyCaller,
      mount: mount === true ? 'CloudRunAuthGuard' : typeof mount === 'function' ? mount.name : 'false',
    };
  }
}

/**
 * Adds the identities that mint tokens to `identities`, and returns each service's index among
 * them. Services with equal effective credentials share one, as the module's registry merges
 * them: a service's own over the module's.
 */
async function describeIdentities(
  options: CloudRunAuthModuleOptions,
  resolved: ResolvedCloudRunAuthOptions,
  identities: IdentitySummary[],
): Promise<Map<string, number>> {
  const names = (options.services ?? []).map((service) => service.name);
  const custom = resolved.identities.customProvider;
  if (custom) {
    identities.push({ services: names, credentials: undefined, customProvider: custom.constructor.name });
    return new Map(names.map((name) => [name, 0]));
  }
  const groups = new Map<string, { credentials: CredentialsOptions; services: string[] }>();
  const identityOf = new Map<string, number>();
  const add = (credentials: CredentialsOptions, service: string) => {
    const key = JSON.stringify(credentials);
    if (!groups.has(key)) groups.set(key, { credentials, services: [] });
    groups.get(key)!.services.push(service);
    identityOf.set(service, [...groups.keys()].indexOf(key));
  };
  for (const service of options.services ?? []) add({ ...options.credentials, ...service.credentials }, service.name);
  if (groups.size === 0) add(options.credentials ?? {}, '(module)');
  for (const { credentials, services } of groups.values()) {
    const { report } = await checkCredentials(credentials, process.env);
    identities.push({ services, credentials: report, customProvider: undefined });
  }
  return identityOf;
}

function conclude(result: ConfigResult, file: string): Finding {
  const { judged, refusals, failures } = result.cloudRun;
  const problem = refusals[0] ?? failures[0];
  if (problem) {
    const what = refusals.length > 0 ? 'Cloud Run would refuse it at boot' : 'on Cloud Run it would fail';
    return {
      cause: `valid here, but ${what}: ${problem.field} ${problem.problem}`,
      nextStep: `keep ${problem.field} out of the configuration deployed to Cloud Run (e.g. set it from an environment variable only in local runs)`,
      exitCode: judged ? EXIT.here : EXIT.works,
    };
  }
  const services = result.services.map((s) => s.name);
  const cause = `the options are valid: ${services.length} service(s) called${result.inbound ? `, inbound verification of ${result.inbound.audiences.join(', ') || 'IAP assertions'}` : ', no inbound verification'}`;
  const nextStep =
    services.length > 0
      ? `try a call with them: cloud-run-auth doctor call --service ${services[0]} --config ${file}`
      : result.inbound
        ? `check a caller's token with them: cloud-run-auth doctor verify --config ${file} --token-file <file>`
        : 'nothing to fix';
  return { cause, nextStep, exitCode: EXIT.works };
}
