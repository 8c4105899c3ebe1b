import { UsageError } from '../emulator.args.js';
import { parseDoctorArgs, type DoctorArgs } from './doctor.args.js';
import { EXIT } from './doctor.outcome.js';
import { CALL_USAGE, CONFIG_USAGE, DOCTOR_USAGE, VERIFY_USAGE } from './doctor.usage.js';

const PROGRAM = 'cloud-run-auth doctor';
const USAGES = { doctor: DOCTOR_USAGE, call: CALL_USAGE, verify: VERIFY_USAGE, config: CONFIG_USAGE };

/**
 * Runs `cloud-run-auth doctor` with `argv` (what follows `doctor`): the report on stdout (text,
 * or one JSON object with `--json`), usage errors on stderr, the exit code in `process.exitCode`.
 */
export async function runDoctorCommand(argv: readonly string[]): Promise<void> {
  let args: DoctorArgs;
  try {
    args = parseDoctorArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${PROGRAM}: ${error.message}\nRun ${PROGRAM} --help for the checks and their options.\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  if (args.command === 'help') {
    process.stdout.write(USAGES[args.topic]);
    return;
  }
  // The checks load the library (and Nest) only now: help and usage errors need neither.
  const { reportDoctor } = await import('./doctor.report.js');
  await reportDoctor(args);
}
