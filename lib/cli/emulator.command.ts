import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../testing/emulator.js';
import type { Emulator } from '../testing/emulator.interface.js';
import { parseEmulatorArgs, UsageError, USAGE, type EmulatorCliOptions } from './emulator.args.js';

/** How the emulator is started from a command line: the `cloud-run-auth-emulator` bin, or `cloud-run-auth emulator`. */
export const EMULATOR_PROGRAMS = ['cloud-run-auth-emulator', 'cloud-run-auth emulator'] as const;

/**
 * Runs the emulator as its command line asks, until SIGINT or SIGTERM: what both bins run.
 * Exit codes (`process.exitCode`): 0 stopped on request, 1 could not start, 2 bad command line.
 * @param program the command as the user typed it, for the usage and error messages.
 */
export async function runEmulatorCommand(
  argv: readonly string[],
  program: (typeof EMULATOR_PROGRAMS)[number] = EMULATOR_PROGRAMS[0],
): Promise<void> {
  let options: EmulatorCliOptions;
  try {
    options = parseEmulatorArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${program}: ${error.message}\nRun ${program} --help for the options.\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE.replace(EMULATOR_PROGRAMS[0], program));
    return;
  }

  // Handlers go in first, so that a Ctrl-C during start-up also ends in a clean stop.
  let emulator: Emulator | undefined;
  let stopping: NodeJS.Signals | undefined;
  const stop = () => {
    void emulator?.close().then(() => {
      if (!options.json) process.stdout.write(`\nStopped (${stopping}).\n`);
      process.exitCode = 0;
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while closing: give up waiting.
    if (stopping) process.exit(130);
    stopping = signal;
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    emulator = await startEmulator({
      port: options.port,
      serviceAccountEmail: options.serviceAccountEmail,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds,
      projectId: options.projectId,
      ...(options.iapAudience && { iapAudience: options.iapAudience, serveIapAssertions: true }),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? `port ${options.port} on 127.0.0.1 is already in use; pick another with --port (0 for any free port)`
        : (error as Error).message;
    process.stderr.write(`${program}: cannot start: ${reason}\n`);
    process.exitCode = 1;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return;
  }
  if (stopping) return stop();
  const keyFile = writeKeyFile(emulator);
  process.stdout.write(options.json ? describeJson(emulator, options, keyFile) : describe(emulator, options, keyFile));
}

/**
 * A service-account key of the emulator's account, `token_uri` pointing at it, for clients that
 * take `GOOGLE_APPLICATION_CREDENTIALS`. Owner-only, in its own temporary directory, removed when
 * the process exits (not after a SIGKILL; the key is good for this emulator only).
 */
function writeKeyFile(emulator: Emulator): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloud-run-auth-emulator-'));
  const path = join(dir, 'service-account.json');
  writeFileSync(path, JSON.stringify(emulator.createServiceAccountKey(), null, 2) + '\n', { mode: 0o600 });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return path;
}

function describeJson(emulator: Emulator, options: EmulatorCliOptions, keyFile: string): string {
  return (
    JSON.stringify({
      url: emulator.url,
      metadataHost: emulator.metadataHost,
      env: {
        GCE_METADATA_HOST: emulator.metadataHost,
        GCE_METADATA_IP: emulator.metadataHost,
      },
      keyFile,
      certsUrl: emulator.certsUrl,
      pemCertsUrl: emulator.pemCertsUrl,
      iapCertsUrl: emulator.iapCertsUrl,
      tokenUri: emulator.tokenUri,
      stsUrl: emulator.stsUrl,
      iamCredentialsUrl: emulator.iamCredentialsUrl,
      serviceAccountEmail: emulator.serviceAccountEmail,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds,
      projectId: options.projectId,
      ...(emulator.iapAssertionUrl && { iapAudience: emulator.iapAudience, iapAssertionUrl: emulator.iapAssertionUrl }),
    }) + '\n'
  );
}

function describe(emulator: Emulator, options: EmulatorCliOptions, keyFile: string): string {
  const identity =
    `${emulator.url}/computeMetadata/v1/instance/service-accounts/default/identity` +
    `?audience=https://my-service.example.run.app&format=full`;
  return `Cloud Run auth emulator listening on ${emulator.url}
  service account   ${emulator.serviceAccountEmail}
  token lifetime    ${options.tokenLifetimeSeconds} s
  project id        ${options.projectId}

Callers get their tokens from it as the metadata server (every client library):
  export GCE_METADATA_HOST=${emulator.metadataHost}   # Node, Go, Python (before google-auth 1.16.1: GCE_METADATA_ROOT)
  export GCE_METADATA_IP=${emulator.metadataHost}     # Python's availability check (GET /); Node reads it first
  (a credentials file wins over the metadata server: unset GOOGLE_APPLICATION_CREDENTIALS,
   and point CLOUDSDK_CONFIG at an empty directory if you have gcloud application-default credentials)

Or as the token endpoint of a key of the same account (Python, Go, curl, this library;
Node's google-auth-library sends key grants to Google, whatever the key's token_uri says):
  export GOOGLE_APPLICATION_CREDENTIALS=${keyFile}

Verifiers check signatures against its keys:
  certs URL (JWKS)  ${emulator.certsUrl}      set it as inbound.certsUrl
  certs URL (PEM)   ${emulator.pemCertsUrl}      X.509 certificates, as Google's v1 certs
  IAP keys (JWKS)   ${emulator.iapCertsUrl}      set it as inbound.iap.certsUrl

${options.iapAudience ? describeIap(emulator) : ''}Other Google endpoints it stands in for:
  OAuth token       ${emulator.tokenUri}
  STS               ${emulator.stsUrl}
  IAM Credentials   ${emulator.iamCredentialsUrl}      set it as credentials.iamCredentialsUrl

Try it:
  curl -H 'Metadata-Flavor: Google' '${identity}'

Ctrl-C to stop.
`;
}

/** The Identity-Aware Proxy part of the text output, with `--iap-audience`. */
function describeIap(emulator: Emulator): string {
  const assertion = `${emulator.iapAssertionUrl}?email=alice@example.com`;
  return `It stands in for Identity-Aware Proxy too (inbound.iap):
  IAP audience      ${emulator.iapAudience}      set it as inbound.iap.audience
  IAP keys (JWKS)   ${emulator.iapCertsUrl}      set it as inbound.iap.certsUrl
  IAP assertions    ${emulator.iapAssertionUrl}?email=EMAIL      one for that user, as IAP adds it to a request
  e.g. curl -H "x-goog-iap-jwt-assertion: $(curl -s '${assertion}')" http://127.0.0.1:8081/   # your service

`;
}
