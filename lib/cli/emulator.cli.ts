#!/usr/bin/env node
import { startEmulator } from '../testing/emulator.js';
import type { Emulator } from '../testing/emulator.interface.js';
import { parseEmulatorArgs, UsageError, USAGE, type EmulatorCliOptions } from './emulator.args.js';

/** Exit codes: 0 stopped on request, 1 could not start, 2 bad command line. */
async function main(argv: readonly string[]): Promise<void> {
  let options: EmulatorCliOptions;
  try {
    options = parseEmulatorArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(
      `cloud-run-auth-emulator: ${error.message}\nRun cloud-run-auth-emulator --help for the options.\n`,
    );
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
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
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? `port ${options.port} on 127.0.0.1 is already in use; pick another with --port (0 for any free port)`
        : (error as Error).message;
    process.stderr.write(`cloud-run-auth-emulator: cannot start: ${reason}\n`);
    process.exitCode = 1;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return;
  }
  if (stopping) return stop();
  process.stdout.write(options.json ? describeJson(emulator, options) : describe(emulator, options));
}

function describeJson(emulator: Emulator, options: EmulatorCliOptions): string {
  return (
    JSON.stringify({
      url: emulator.url,
      metadataHost: emulator.metadataHost,
      certsUrl: emulator.certsUrl,
      pemCertsUrl: emulator.pemCertsUrl,
      tokenUri: emulator.tokenUri,
      stsUrl: emulator.stsUrl,
      iamCredentialsUrl: emulator.iamCredentialsUrl,
      serviceAccountEmail: emulator.serviceAccountEmail,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds,
      projectId: options.projectId,
    }) + '\n'
  );
}

function describe(emulator: Emulator, options: EmulatorCliOptions): string {
  const identity =
    `${emulator.url}/computeMetadata/v1/instance/service-accounts/default/identity` +
    `?audience=https://my-service.example.run.app&format=full`;
  return `Cloud Run auth emulator listening on ${emulator.url}
  service account   ${emulator.serviceAccountEmail}
  token lifetime    ${options.tokenLifetimeSeconds} s
  project id        ${options.projectId}

Callers get their ID tokens from it as the metadata server:
  export GCE_METADATA_HOST=${emulator.metadataHost}
  (a credentials file wins over the metadata server: unset GOOGLE_APPLICATION_CREDENTIALS,
   and point CLOUDSDK_CONFIG at an empty directory if you have gcloud application-default credentials)

Verifiers check signatures against its keys:
  certs URL (JWKS)  ${emulator.certsUrl}      set it as inbound.certsUrl
  certs URL (PEM)   ${emulator.pemCertsUrl}

Other Google endpoints it stands in for:
  OAuth token       ${emulator.tokenUri}
  STS               ${emulator.stsUrl}
  IAM Credentials   ${emulator.iamCredentialsUrl}      set it as credentials.iamCredentialsUrl

Try it:
  curl -H 'Metadata-Flavor: Google' '${identity}'

Ctrl-C to stop.
`;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`cloud-run-auth-emulator: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
