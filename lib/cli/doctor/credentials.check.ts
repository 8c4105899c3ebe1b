import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { discoverCredentials } from '../../outbound/credentials/adc.discovery.js';
import { credentialKind } from '../../outbound/credentials/credential-kind.js';
import type { CredentialSource } from '../../outbound/credentials/credential-source.interface.js';
import type { CredentialsOptions } from '../../outbound/credentials/credentials.options.js';
import { ImpersonatedSource } from '../../outbound/credentials/impersonated.source.js';
import { metadataHostFromEnv } from '../../outbound/credentials/metadata.client.js';
import type { TokenSource } from '../../shared/telemetry/telemetry.names.js';

/** One place Application Default Credentials look, in their order, and what is there. */
export interface AdcStep {
  step: 'credentials option' | 'GOOGLE_APPLICATION_CREDENTIALS' | "gcloud's file" | 'metadata server';
  /** A path, a host (and the variable that names it), or `not set`. */
  found: string;
  /** The step the library took its credentials from. */
  used: boolean;
}

/** Which credentials the library would use, and why. */
export interface CredentialsReport {
  /** Their kind, as in the library's metrics; `undefined` when none could be built. */
  kind: TokenSource | undefined;
  /** The library's own description of them and of where they came from. */
  source: string | undefined;
  /** Why these: the first step of ADC's order that has something. */
  because: string;
  adc: AdcStep[];
  /** The service account impersonated: the `impersonate` option, or the one an impersonated_service_account file names. */
  impersonates: string | undefined;
  delegates: readonly string[];
  /** Why no credentials could be built (an unreadable file, an unsupported type), as the library says it. */
  error: string | undefined;
}

/**
 * Runs the library's own credential discovery (explicit options, then ADC's order) and says
 * what it found. Reads files only: nothing is fetched.
 */
export async function checkCredentials(
  options: CredentialsOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ report: CredentialsReport; source: CredentialSource | undefined }> {
  const steps = adcSteps(options, env);
  let source: CredentialSource | undefined;
  let error: string | undefined;
  try {
    source = await discoverCredentials(options, env);
  } catch (discoveryError) {
    error = discoveryError instanceof Error ? discoveryError.message : String(discoveryError);
  }
  const said = source?.description ?? error ?? '';
  const used = steps.find((step) => step.markers.some((marker) => said.includes(marker)));
  const impersonates = source instanceof ImpersonatedSource ? source.targetEmail : options.impersonate;
  const report: CredentialsReport = {
    kind: source && credentialKind(source),
    source: source?.description,
    because:
      (used ? BECAUSE[used.step] : 'see the source') + (impersonates ? `; they impersonate ${impersonates}` : ''),
    adc: steps.map(({ step, found }) => ({ step, found, used: step === used?.step })),
    impersonates,
    delegates: options.delegates ?? [],
    error,
  };
  return { report, source };
}

const BECAUSE: Record<AdcStep['step'], string> = {
  'credentials option':
    'the credentials option (keyFile or credentials) is set: it comes before Application Default Credentials',
  GOOGLE_APPLICATION_CREDENTIALS:
    'GOOGLE_APPLICATION_CREDENTIALS is set: the first place Application Default Credentials look',
  "gcloud's file":
    "GOOGLE_APPLICATION_CREDENTIALS is not set and gcloud's application-default credentials file exists (gcloud auth application-default login)",
  'metadata server':
    "no credentials file was found (GOOGLE_APPLICATION_CREDENTIALS not set, no gcloud application-default credentials), so the metadata server, last in Application Default Credentials' order",
};

/** The steps with the words the library's descriptions use for each origin. */
function adcSteps(options: CredentialsOptions, env: NodeJS.ProcessEnv): (AdcStep & { markers: string[] })[] {
  const fromEnv = env.GOOGLE_APPLICATION_CREDENTIALS;
  const wellKnown = join(gcloudConfigDir(env), 'application_default_credentials.json');
  const host = metadataHostFromEnv(env);
  const variable = env.GCE_METADATA_IP ? 'GCE_METADATA_IP' : env.GCE_METADATA_HOST ? 'GCE_METADATA_HOST' : 'default';
  return [
    {
      step: 'credentials option',
      found: options.credentials
        ? 'credentials (parsed JSON)'
        : options.keyFile
          ? `keyFile ${options.keyFile}`
          : 'not set',
      markers: ['the credentials option', ...(options.keyFile ? [`keyFile ${options.keyFile}`] : [])],
      used: false,
    },
    {
      step: 'GOOGLE_APPLICATION_CREDENTIALS',
      found: fromEnv || 'not set',
      markers: fromEnv ? [`GOOGLE_APPLICATION_CREDENTIALS=${fromEnv}`] : [],
      used: false,
    },
    {
      step: "gcloud's file",
      found: `${wellKnown} (${existsSync(wellKnown) ? 'exists' : 'absent'})`,
      markers: [`gcloud's well-known file ${wellKnown}`],
      used: false,
    },
    {
      step: 'metadata server',
      found: `${host} (${variable === 'default' ? 'the default address' : variable})`,
      markers: [`metadata server at ${host}`],
      used: false,
    },
  ];
}

/** Where gcloud keeps its configuration, as the library's discovery looks for it. */
function gcloudConfigDir(env: NodeJS.ProcessEnv): string {
  return (
    env.CLOUDSDK_CONFIG ??
    (process.platform === 'win32' ? join(env.APPDATA ?? '', 'gcloud') : join(homedir(), '.config', 'gcloud'))
  );
}
