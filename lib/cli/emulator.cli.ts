#!/usr/bin/env node
import { runEmulatorCommand } from './emulator.command.js';

runEmulatorCommand(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`cloud-run-auth-emulator: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
