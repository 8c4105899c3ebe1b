import type { DoctorExitCode, Finding } from './doctor.outcome.js';
import type { FailedClaim } from './token-diagnosis.interface.js';
import { describeKind, type TokenSummary } from './token.summary.js';
import { shown, sinceNow } from './wording.js';

/** A label and its value (several lines for an array); rows without a value are left out. */
export type Row = [label: string, value: string | string[] | undefined];

const LABEL_WIDTH = 15;

/** A titled block of aligned rows. */
export function section(title: string, rows: Row[]): string {
  const lines = [title];
  for (const [label, value] of rows) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    // Rows without a label (notes) are not aligned under one.
    const indent = label === '' ? '' : ' '.repeat(LABEL_WIDTH);
    values.forEach((text, i) => lines.push(`  ${i === 0 ? label.padEnd(indent.length) : indent}${clean(text)}`));
  }
  return `${lines.join('\n')}\n`;
}

const MEANING: Record<DoctorExitCode, string> = {
  0: 'works',
  1: 'misconfigured here',
  2: 'bad command line',
  3: 'refused by the target',
};

/** The conclusion every command ends with: cause, next step, exit code. */
export function conclusion({ cause, nextStep, exitCode }: Finding): string {
  return `Cause      ${clean(cause)}\nNext step  ${clean(nextStep)}\nExit code  ${exitCode} (${MEANING[exitCode]})\n`;
}

/** The rows of a token's summary: its kind, header and claims, never the token. */
export function tokenRows(token: TokenSummary): Row[] {
  const { header, claims } = token;
  const kind = describeKind(token.kind) + (header ? ` (alg ${shown(header.alg)}, kid ${shown(header.kid)})` : '');
  if (!claims) return [['kind', kind]];
  const email =
    typeof claims.email === 'string'
      ? `${shown(claims.email)} (${claims.email_verified === true ? 'verified' : 'not verified'})`
      : 'none: the token has no email claim';
  const expires =
    token.expiresInSeconds === undefined
      ? 'no exp claim'
      : `${token.expiresInSeconds >= 0 ? `in ${sinceNow(token.expiresInSeconds)}` : `${sinceNow(token.expiresInSeconds)} ago`} (exp ${dateOf(claims.exp)})`;
  return [
    ['kind', kind],
    ['aud', shown(claims.aud)],
    ['iss', shown(claims.iss)],
    ['email', email],
    ['sub', claims.sub === undefined ? undefined : shown(claims.sub)],
    ['expires', expires],
    [
      'signature',
      token.signature === 'removed-by-google' ? 'removed by Cloud Run (SIGNATURE_REMOVED_BY_GOOGLE)' : token.signature,
    ],
  ];
}

/** `aud: received "x", expected "y"`. */
export function failedClaimText(failed: FailedClaim): string {
  return `${failed.claim}: received ${shown(failed.received)}, expected ${shown(failed.expected)}`;
}

function dateOf(seconds: unknown): string {
  const date = typeof seconds === 'number' ? new Date(seconds * 1000) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : shown(seconds);
}

/** Control characters out of a line of text (values from files and tokens are not the terminal's to interpret). */
function clean(text: string): string {
  return text.replace(/\p{Cc}/gu, ' ');
}
