import { Logger } from '@nestjs/common';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { runCall } from './call.command.js';
import { renderCall } from './call.renderer.js';
import { runConfig } from './config.command.js';
import { DoctorInputError } from './config.loader.js';
import { renderConfig } from './config.renderer.js';
import type { DoctorArgs } from './doctor.args.js';
import { EXIT, type Finding } from './doctor.outcome.js';
import { conclusion } from './text.layout.js';
import { runVerify } from './verify.command.js';
import { renderVerify } from './verify.renderer.js';

/** Runs one check and writes its report: text, or one JSON object with `--json`; sets `process.exitCode`. */
export async function reportDoctor(args: Exclude<DoctorArgs, { command: 'help' }>): Promise<void> {
  // The library's key store and clients log through Nest; their lines would mix with the report.
  Logger.overrideLogger(false);
  const { json } = args;
  let output: string;
  let exitCode: Finding['exitCode'];
  try {
    const result = await run(args);
    exitCode = result.exitCode;
    output = json ? `${JSON.stringify(result)}\n` : result.text;
  } catch (error) {
    const finding = inputFinding(error);
    exitCode = finding.exitCode;
    output = json ? `${JSON.stringify({ command: args.command, ...finding })}\n` : conclusion(finding);
  }
  process.stdout.write(output);
  process.exitCode = exitCode;
}

async function run(args: Exclude<DoctorArgs, { command: 'help' }>): Promise<Finding & { text: string }> {
  switch (args.command) {
    case 'call': {
      const result = await runCall(args, process.env);
      return withText(result, renderCall);
    }
    case 'verify': {
      const result = await runVerify(args);
      return withText(result, renderVerify);
    }
    default: {
      const result = await runConfig(args);
      return withText(result, renderConfig);
    }
  }
}

/** The result with its text as a property that `JSON.stringify` leaves out. */
function withText<T extends Finding>(result: T, render: (result: T) => string): T & { text: string } {
  return Object.defineProperty(result, 'text', { value: render(result), enumerable: false }) as T & { text: string };
}

/** A file doctor cannot use, or invalid options: misconfigured here. */
function inputFinding(error: unknown): Finding {
  if (error instanceof DoctorInputError) {
    return { cause: error.message, nextStep: error.nextStep, exitCode: EXIT.here };
  }
  if (error instanceof CloudRunAuthConfigError) {
    return {
      cause: `invalid configuration at ${error.field}: ${error.problem}`,
      nextStep: `fix ${error.field}: CloudRunAuthModule refuses to start with it`,
      exitCode: EXIT.here,
    };
  }
  throw error;
}
