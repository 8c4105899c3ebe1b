import { IMPERSONATE_COMMAND } from '../../outbound/credentials/authorized-user.source.js';
import type { IdTokenProvider } from '../../outbound/token/id-token.provider.js';
import { cloudRunVariable } from '../../shared/runtime/cloud-run.env.js';
import type { CredentialsReport } from './credentials.check.js';
import { EXIT, type Finding } from './doctor.outcome.js';

/** Asks `provider` for an ID token for `audience`, as the library's token cache would, within `timeoutMs`. */
export async function mintIdToken(
  provider: IdTokenProvider,
  audience: string,
  timeoutMs: number,
): Promise<{ token: string; ms: number } | { error: string; ms: number }> {
  const started = Date.now();
  try {
    const token = await provider.getIdToken(audience, { signal: AbortSignal.timeout(timeoutMs) });
    return { token, ms: Date.now() - started };
  } catch (error) {
    // The library's errors never hold a token; anything else is named, not quoted.
    const message = error instanceof Error && error.name === 'IdTokenFetchError' ? error.message : describe(error);
    return { error: message, ms: Date.now() - started };
  }
}

/** Why no ID token could be had, from the credentials found and the library's error. */
export function interpretMintFailure(error: string, credentials: CredentialsReport | undefined): Finding {
  const here = EXIT.here;
  if (credentials?.error !== undefined) {
    return {
      cause: `no credentials could be built: ${credentials.error}`,
      nextStep:
        "fix or replace the file it names, or unset GOOGLE_APPLICATION_CREDENTIALS so that gcloud's file or the metadata server is used",
      exitCode: here,
    };
  }
  if (credentials?.kind === 'authorized_user') {
    return {
      cause: `the credentials are a user account (${credentials.source}): user credentials cannot mint an ID token for an audience, and Cloud Run accepts a service account's`,
      nextStep: `\`${IMPERSONATE_COMMAND}\` (it needs roles/iam.serviceAccountTokenCreator on SA_EMAIL), or set the credentials option impersonate: 'SA_EMAIL'`,
      exitCode: here,
    };
  }
  if (credentials?.kind === 'metadata') return metadataFailure(error, credentials);
  if (credentials?.impersonates && /generateIdToken.*HTTP 403/.test(error)) {
    return {
      cause: `the credentials may not impersonate ${credentials.impersonates}: ${error}`,
      nextStep: `gcloud iam service-accounts add-iam-policy-binding ${credentials.impersonates} --member=PRINCIPAL --role=roles/iam.serviceAccountTokenCreator (PRINCIPAL: the identity of ${credentials.source})`,
      exitCode: here,
    };
  }
  return {
    cause: `no ID token could be had: ${error}`,
    nextStep: credentials?.source
      ? `fix the credentials it names (${credentials.source})`
      : 'fix the token provider: its error says what failed',
    exitCode: here,
  };
}

function metadataFailure(error: string, credentials: CredentialsReport): Finding {
  const step = credentials.adc.find((s) => s.step === 'metadata server');
  const host = step?.found.replace(/ \(.*\)$/, '') ?? 'the metadata server';
  if (/nothing is listening at/.test(error)) {
    const port = /:(\d+)$/.exec(host)?.[1];
    return {
      cause: `no credentials file was found, so the library asks the metadata server at ${step?.found ?? host}, and nothing is listening there: the emulator is not running`,
      nextStep: `start it: npx cloud-run-auth emulator${port ? ` --port ${port}` : ''}`,
      exitCode: EXIT.here,
    };
  }
  if (cloudRunVariable()) {
    return {
      cause: `the metadata server at ${host} failed: ${error}`,
      nextStep:
        "unset GCE_METADATA_HOST and GCE_METADATA_IP in the service's environment, and exempt 169.254.* and *.google.internal from any HTTP proxy",
      exitCode: EXIT.here,
    };
  }
  return {
    cause: `no credentials file was found and no metadata server answers at ${host} (off Google Cloud there is none): ${error}`,
    nextStep: `\`${IMPERSONATE_COMMAND}\`, or start the emulator (npx cloud-run-auth emulator) and export GCE_METADATA_HOST=127.0.0.1:8090`,
    exitCode: EXIT.here,
  };
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return error.name === 'TimeoutError' ? 'timed out' : `${error.name} from the token provider`;
  return typeof error;
}
