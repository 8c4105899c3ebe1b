import {
  resolveModuleOptions,
  type CloudRunAuthModuleOptions,
  type ResolvedCloudRunAuthOptions,
} from '../../module/cloud-run-auth.options.js';
import type { CredentialsOptions } from '../../outbound/credentials/credentials.options.js';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { isLoopbackUrl } from '../../shared/options/option.assertions.js';
import { cloudRunVariable } from '../../shared/runtime/cloud-run.env.js';

/** A field and what is wrong with it, as `CloudRunAuthConfigError` names them. */
export interface ConfigProblem {
  field: string;
  problem: string;
}

/** What would go wrong with valid options on Cloud Run: refused at boot, or failing at run time. */
export interface CloudRunProblems {
  /** What the module refuses to start with there (its validation with `K_SERVICE` set), and the test caller guard. */
  refusals: ConfigProblem[];
  /** Endpoints on this machine (the emulator's): nothing listens there in a Cloud Run container. */
  failures: ConfigProblem[];
}

/** The class name `testCallerGuard()` gives the guard it returns. */
const TEST_CALLER_GUARD = 'TestCallerGuard';

/** Judges `options` (valid here, resolved as `resolved`) as they would fare in a Cloud Run container. */
export function cloudRunProblems(
  options: CloudRunAuthModuleOptions,
  resolved: ResolvedCloudRunAuthOptions,
): CloudRunProblems {
  const refusals: ConfigProblem[] = [];
  const refusal = validationOnCloudRun(options);
  if (refusal) refusals.push(refusal);
  const mount: unknown = options.inbound?.mount;
  if (typeof mount === 'function' && mount.name === TEST_CALLER_GUARD) {
    refusals.push({
      field: 'inbound.mount',
      problem: 'a test caller guard (testCallerGuard()) is for tests only, and refuses to start on Cloud Run',
    });
  }
  const failures: ConfigProblem[] = [];
  const local = (field: string, url: string | undefined, consequence: string) => {
    if (url !== undefined && isLocal(url)) {
      failures.push({
        field,
        problem: `is ${url}, on this machine (the emulator): in a Cloud Run container nothing listens there, ${consequence}`,
      });
    }
  };
  if (resolved.inbound) {
    local(
      'inbound.certsUrl',
      resolved.inbound.verifier.certsUrl,
      'so every ID token is refused with 503 (keys_unavailable)',
    );
    local(
      'inbound.iap.certsUrl',
      resolved.inbound.iap?.certsUrl,
      'so every IAP assertion is refused with 503 (keys_unavailable)',
    );
  }
  const credentials: [string, CredentialsOptions | undefined][] = [
    ['credentials', options.credentials],
    ...(options.services ?? []).map((s): [string, CredentialsOptions | undefined] => [
      `services[${s.name}].credentials`,
      s.credentials,
    ]),
  ];
  for (const [at, value] of credentials) {
    local(`${at}.iamCredentialsUrl`, value?.iamCredentialsUrl, 'so no token can be minted');
    const tokenUri = value?.credentials?.token_uri;
    local(
      `${at}.credentials.token_uri`,
      typeof tokenUri === 'string' ? tokenUri : undefined,
      'so no token can be minted',
    );
  }
  for (const service of resolved.services.values()) {
    local(
      `services[${service.name}].url`,
      service.url,
      'but the container itself, so its calls do not reach that service',
    );
  }
  return { refusals, failures };
}

/** The module's own validation with `K_SERVICE` set, as in a Cloud Run service; `undefined` when it passes. */
function validationOnCloudRun(options: CloudRunAuthModuleOptions): ConfigProblem | undefined {
  if (cloudRunVariable()) return undefined;
  // The validators read the process's environment: set it for the one call, then put it back.
  process.env.K_SERVICE = 'cloud-run-auth-doctor';
  try {
    resolveModuleOptions(options);
    return undefined;
  } catch (error) {
    if (!(error instanceof CloudRunAuthConfigError)) throw error;
    return { field: error.field, problem: error.problem };
  } finally {
    delete process.env.K_SERVICE;
  }
}

function isLocal(url: string): boolean {
  try {
    return isLoopbackUrl(new URL(url));
  } catch {
    return false;
  }
}
