import type { CallResult } from './call.command.js';
import type { CredentialsReport } from './credentials.check.js';
import type { CallReport } from './target.call.js';
import { conclusion, failedClaimText, section, tokenRows, type Row } from './text.layout.js';

/** `doctor call`'s text output. */
export function renderCall(result: CallResult): string {
  const parts = [
    section('doctor call', [
      ['url', result.url],
      ['service', result.service],
    ]),
  ];
  if (result.credentials) parts.push(section('Credentials', credentialRows(result.credentials)));
  const { token } = result;
  const tokenHead: Row[] =
    token.from === 'input'
      ? [['from', 'the token given (--token-file/--stdin), sent as it is']]
      : [
          ['audience', token.audience && `${token.audience}  (${token.audienceFrom})`],
          ['minted', token.error === undefined ? `in ${token.ms} ms` : 'no: see the cause below'],
        ];
  parts.push(section('ID token', [...tokenHead, ...(token.summary ? tokenRows(token.summary) : [])]));
  if (result.call)
    parts.push(
      section('Call', [
        ['request', `${result.call.method} ${result.url}`],
        ['answer', answer(result.call)],
      ]),
    );
  const local = result.verification;
  if (local) {
    parts.push(
      section(`Verifier here (${local.source})`, [
        ['decision', local.accepted ? 'accepted (200)' : `refused: ${local.status} ${local.reason}`],
        ['failed claim', local.failedClaim && failedClaimText(local.failedClaim)],
      ]),
    );
  }
  if (result.notes.length > 0) parts.push(section('Notes', [['', result.notes]]));
  parts.push(conclusion(result));
  return parts.join('\n');
}

function credentialRows(report: CredentialsReport): Row[] {
  return [
    ['source', report.source ?? `none could be built: ${report.error}`],
    ['because', report.because],
    ['ADC order', report.adc.map((step) => `${step.step}: ${step.found}${step.used ? '   <- used' : ''}`)],
    ['impersonates', report.impersonates],
    ['delegates', report.delegates.length > 0 ? report.delegates.join(', ') : undefined],
  ];
}

function answer(call: CallReport): string {
  if (call.error !== undefined) return `none: ${call.error} (after ${call.ms} ms)`;
  const from =
    call.from === 'cloud-run'
      ? "from Cloud Run's front end (its own refusal page: the request did not reach the container)"
      : call.from === 'guard'
        ? `from CloudRunAuthGuard (WWW-Authenticate: ${call.wwwAuthenticate})`
        : `from the service${call.wwwAuthenticate ? ` (WWW-Authenticate: ${call.wwwAuthenticate})` : ''}`;
  return `HTTP ${call.status} ${from}, in ${call.ms} ms${call.location ? `; redirect to ${call.location}` : ''}`;
}
