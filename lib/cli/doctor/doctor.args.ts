import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../emulator.args.js';

/** `doctor call`'s options. */
export interface CallArgs {
  command: 'call';
  url: string | undefined;
  audience: string | undefined;
  service: string | undefined;
  config: string | undefined;
  targetConfig: string | undefined;
  /** A file holding the token to send; `-` for stdin. */
  tokenFile: string | undefined;
  method: string;
  timeoutMs: number;
  json: boolean;
}

/** `doctor verify`'s options. */
export interface VerifyArgs {
  command: 'verify';
  config: string | undefined;
  audiences: string[];
  certsUrl: string | undefined;
  mode: 'verify' | 'cloud-run-iam' | undefined;
  /** A route's `@AllowedCallers()` entries; `undefined` when none were given. */
  allow: string[] | undefined;
  url: string | undefined;
  tokenFile: string;
  json: boolean;
}

/** `doctor config`'s options. */
export interface ConfigArgs {
  command: 'config';
  file: string;
  cloudRun: boolean;
  json: boolean;
}

/** A help request: of doctor itself, or of one command. */
export interface HelpArgs {
  command: 'help';
  topic: 'doctor' | 'call' | 'verify' | 'config';
}

export type DoctorArgs = CallArgs | VerifyArgs | ConfigArgs | HelpArgs;

const COMMON = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
const TOKEN = { 'token-file': { type: 'string' }, stdin: { type: 'boolean', default: false } } as const;

/**
 * Parses `cloud-run-auth doctor`'s command line (what follows `doctor`).
 * @throws UsageError with a message for the user.
 */
export function parseDoctorArgs(argv: readonly string[]): DoctorArgs {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('which check? call, verify or config');
  if (command === '--help' || command === '-h' || command === 'help') return { command: 'help', topic: 'doctor' };
  switch (command) {
    case 'call':
      return parseCall(rest);
    case 'verify':
      return parseVerify(rest);
    case 'config':
      return parseConfig(rest);
    default:
      throw new UsageError(`unknown check ${JSON.stringify(command)}: call, verify or config`);
  }
}

function parseCall(argv: readonly string[]): CallArgs | HelpArgs {
  const { values, positionals } = parse(argv, {
    ...COMMON,
    ...TOKEN,
    audience: { type: 'string' },
    service: { type: 'string' },
    config: { type: 'string' },
    'target-config': { type: 'string' },
    method: { type: 'string', short: 'X', default: 'GET' },
    timeout: { type: 'string' },
  });
  if (values.help) return { command: 'help', topic: 'call' };
  if (positionals.length > 1) throw new UsageError(`one URL only, got ${positionals.length}`);
  const url = positionals[0];
  if (url === undefined && values.service === undefined) throw new UsageError('give the URL to call (or --service)');
  if (url !== undefined && !isHttpUrl(url)) {
    throw new UsageError(`the URL must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (values.service !== undefined && values.config === undefined) {
    throw new UsageError('--service needs --config, the module options that define it');
  }
  const method = String(values.method).toUpperCase();
  if (!/^[A-Z]+$/.test(method))
    throw new UsageError(`--method must be an HTTP method, got ${JSON.stringify(values.method)}`);
  return {
    command: 'call',
    url,
    audience: nonEmpty(values.audience, '--audience'),
    service: nonEmpty(values.service, '--service'),
    config: nonEmpty(values.config, '--config'),
    targetConfig: nonEmpty(values['target-config'], '--target-config'),
    tokenFile: tokenSource(values, false),
    method,
    timeoutMs: seconds(values.timeout, 10) * 1000,
    json: values.json === true,
  };
}

function parseVerify(argv: readonly string[]): VerifyArgs | HelpArgs {
  const { values, positionals } = parse(argv, {
    ...COMMON,
    ...TOKEN,
    config: { type: 'string' },
    audience: { type: 'string', multiple: true },
    'certs-url': { type: 'string' },
    mode: { type: 'string' },
    allow: { type: 'string', multiple: true },
    'route-allow': { type: 'string', multiple: true },
    url: { type: 'string' },
  });
  if (values.help) return { command: 'help', topic: 'verify' };
  if (positionals.length > 0) {
    throw new UsageError(
      `unexpected argument: give the token with --token-file <file> or --stdin, never on the command line`,
    );
  }
  const audiences = (values.audience as string[] | undefined) ?? [];
  if (audiences.length === 0 && values.config === undefined) {
    throw new UsageError("give the service's audience (--audience) or its module options (--config)");
  }
  const mode = values.mode as string | undefined;
  if (mode !== undefined && mode !== 'verify' && mode !== 'cloud-run-iam') {
    throw new UsageError(`--mode must be verify or cloud-run-iam, got ${JSON.stringify(mode)}`);
  }
  const allow = [
    ...((values.allow as string[] | undefined) ?? []),
    ...((values['route-allow'] as string[] | undefined) ?? []),
  ];
  return {
    command: 'verify',
    config: nonEmpty(values.config, '--config'),
    audiences,
    certsUrl: nonEmpty(values['certs-url'], '--certs-url'),
    mode,
    allow: allow.length > 0 ? allow : undefined,
    url: nonEmpty(values.url, '--url'),
    tokenFile: tokenSource(values, true)!,
    json: values.json === true,
  };
}

function parseConfig(argv: readonly string[]): ConfigArgs | HelpArgs {
  const { values, positionals } = parse(argv, { ...COMMON, 'cloud-run': { type: 'boolean', default: false } });
  if (values.help) return { command: 'help', topic: 'config' };
  if (positionals.length !== 1) throw new UsageError('give one file: the module options');
  return {
    command: 'config',
    file: positionals[0]!,
    cloudRun: values['cloud-run'] === true,
    json: values.json === true,
  };
}

type Values = Record<string, string | boolean | string[] | undefined>;

function parse(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
    return { values: values as Values, positionals };
  } catch (error) {
    // parseArgs' own messages are clear ("Unknown option '--x'", "Option '--audience <value>' argument missing").
    throw new UsageError((error as Error).message);
  }
}

function tokenSource(values: Values, required: boolean): string | undefined {
  const file = nonEmpty(values['token-file'], '--token-file');
  if (file !== undefined && values.stdin === true) throw new UsageError('give --token-file or --stdin, not both');
  const source = values.stdin === true ? '-' : file;
  if (required && source === undefined) throw new UsageError('give the token with --token-file <file> or --stdin');
  return source;
}

function nonEmpty(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${flag} must not be empty`);
  return value;
}

function seconds(raw: Values[string], fallback: number): number {
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(value > 0 && value <= 300)) {
    throw new UsageError(`--timeout must be a number of seconds from 0 to 300, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function isHttpUrl(value: string): boolean {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}
