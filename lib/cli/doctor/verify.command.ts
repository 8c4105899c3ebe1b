import { resolveInboundOptions, type InboundOptions } from '../../inbound/inbound.options.js';
import { DoctorInputError, loadModuleOptions } from './config.loader.js';
import type { VerifyArgs } from './doctor.args.js';
import { EXIT, type DoctorExitCode, type Finding } from './doctor.outcome.js';
import type { TokenDiagnosis } from './token-diagnosis.interface.js';
import { diagnoseToken } from './token.diagnosis.js';
import { readTokenInput } from './token.input.js';

/** The service's verifier configuration as doctor ran it. */
export interface VerifierConfiguration {
  /** `--config`'s file, the command line, or both. */
  source: string;
  audiences: readonly string[];
  mode: 'verify' | 'cloud-run-iam';
  certsUrl: string;
  iap: { audiences: readonly string[]; certsUrl: string } | undefined;
  /** The list that decides: a route's (`--allow`), the module's, or none. */
  allowList: { from: '--allow' | 'inbound.allowedCallers' | 'none'; entries: readonly string[] };
}

/** What `doctor verify` found; its JSON output. Never the token. */
export interface VerifyResult extends Finding {
  command: 'verify';
  configuration: VerifierConfiguration;
  diagnosis: TokenDiagnosis;
  notes: string[];
}

/** Runs `doctor verify`: the service's verifier and allow-list on a token. */
export async function runVerify(args: VerifyArgs): Promise<VerifyResult> {
  const notes: string[] = [];
  const file = args.config === undefined ? undefined : await loadModuleOptions(args.config);
  if (args.config !== undefined && file?.inbound === undefined && args.audiences.length === 0) {
    throw new DoctorInputError(
      `${args.config} has no inbound options`,
      "give the service's module options, or its audience with --audience",
    );
  }
  const inbound: InboundOptions = { ...file?.inbound };
  if (args.audiences.length > 0) inbound.audience = args.audiences;
  if (args.certsUrl !== undefined) inbound.certsUrl = args.certsUrl;
  if (args.mode !== undefined) inbound.mode = args.mode;
  if (!inbound.allowedCallers?.length && inbound.allowAnyCaller !== true) {
    // The module refuses to run without one; doctor judges the token all the same, and says so.
    inbound.allowAnyCaller = true;
    if (args.allow === undefined) {
      notes.push(
        'no allow-list was given (inbound.allowedCallers, --allow): any caller with a valid token counts as allowed',
      );
    }
  }
  const resolved = resolveInboundOptions(inbound)!;
  const token = await readTokenInput(args.tokenFile);
  const diagnosis = await diagnoseToken(token, { inbound, routeAllowedCallers: args.allow, url: args.url });
  const configuration: VerifierConfiguration = {
    source: [
      args.config,
      ...(args.audiences.length || args.certsUrl || args.mode || args.allow ? ['the command line'] : []),
    ]
      .filter(Boolean)
      .join(' and '),
    audiences: resolved.verifier.audiences,
    mode: resolved.verifier.mode,
    certsUrl: resolved.verifier.certsUrl,
    iap: resolved.iap && { audiences: resolved.iap.audiences, certsUrl: resolved.iap.certsUrl },
    allowList: args.allow
      ? { from: '--allow', entries: diagnosis.caller?.entries ?? args.allow }
      : resolved.allowedCallers
        ? { from: 'inbound.allowedCallers', entries: resolved.allowedCallers.patterns }
        : { from: 'none', entries: [] },
  };
  return {
    command: 'verify',
    configuration,
    diagnosis,
    notes,
    cause: diagnosis.cause,
    nextStep: diagnosis.nextStep,
    exitCode: exitCodeOf(diagnosis),
  };
}

/** 0 accepted; 3 when the fix is the service's; 1 when it is the token's, or the keys could not be fetched from here. */
export function exitCodeOf(diagnosis: TokenDiagnosis): DoctorExitCode {
  if (diagnosis.accepted) return EXIT.works;
  return diagnosis.fixOn === 'service' ? EXIT.target : EXIT.here;
}
