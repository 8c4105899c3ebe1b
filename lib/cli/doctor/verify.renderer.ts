import { conclusion, failedClaimText, section, tokenRows } from './text.layout.js';
import type { VerifyResult } from './verify.command.js';

/** `doctor verify`'s text output. */
export function renderVerify(result: VerifyResult): string {
  const { configuration: config, diagnosis } = result;
  const allowList =
    config.allowList.from === 'none'
      ? 'none: any caller with a valid token is allowed'
      : `${config.allowList.from}: ${config.allowList.entries.join(', ')}`;
  const caller = diagnosis.caller;
  const parts = [
    section('Token', tokenRows(diagnosis.token)),
    section(`The service's verifier (${config.source})`, [
      ['audiences', config.audiences.length > 0 ? config.audiences.join(', ') : 'none (IAP assertions only)'],
      ['mode', config.mode],
      ['certsUrl', config.certsUrl],
      ['IAP', config.iap && `${config.iap.audiences.join(', ')} (keys ${config.iap.certsUrl})`],
      ['allow-list', allowList],
    ]),
    section('Decision', [
      ['guard', diagnosis.accepted ? 'accepted (on to the route)' : `refused: ${diagnosis.status} ${diagnosis.reason}`],
      ['failed claim', diagnosis.failedClaim && failedClaimText(diagnosis.failedClaim)],
      [
        'caller',
        caller &&
          `${caller.email ?? `sub:${caller.subject} (no verified email)`}: ${caller.allowed ? 'allowed' : 'not allowed'}`,
      ],
      ['detail', diagnosis.detail],
    ]),
  ];
  if (result.notes.length > 0) parts.push(section('Notes', [['', result.notes]]));
  parts.push(conclusion(result));
  return parts.join('\n');
}
