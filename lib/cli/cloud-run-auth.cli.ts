#!/usr/bin/env node
const USAGE = `Usage: cloud-run-auth <command> [options]

Commands:
  doctor      explain a failing service-to-service call end to end (call, verify, config)
                cloud-run-auth doctor call https://orders-abc123xyz-ew.a.run.app/health
  emulator    run the local emulator of Google's side (metadata server, keys, token endpoints),
              as cloud-run-auth-emulator does
                cloud-run-auth emulator --port 8090

Run cloud-run-auth <command> --help for its options.
`;

/** Exit codes: those of the command run; 2 for an unknown command. */
async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      // Loaded on demand: the emulator needs none of what doctor loads (Nest, the verifiers).
      const { runDoctorCommand } = await import('./doctor/doctor.command.js');
      return runDoctorCommand(rest);
    }
    case 'emulator': {
      const { runEmulatorCommand } = await import('./emulator.command.js');
      return runEmulatorCommand(rest, 'cloud-run-auth emulator');
    }
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(
        `cloud-run-auth: ${command === undefined ? 'which command? doctor or emulator' : `unknown command ${JSON.stringify(command)}`}\n${USAGE}`,
      );
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`cloud-run-auth: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
