import type { ConfigResult } from './config.command.js';
import { conclusion, section, type Row } from './text.layout.js';

/** `doctor config`'s text output. */
export function renderConfig(result: ConfigResult): string {
  const parts = [section(`Module options in ${result.file}`, [['valid', result.valid ? 'yes' : 'no']])];
  if (result.valid) {
    parts.push(
      section(
        'Services called',
        result.services.length === 0
          ? [['', 'none']]
          : result.services.map((s): Row => [
              s.name,
              [
                `${s.url} (${s.transport})`,
                `audience ${s.audience}${s.audienceFrom === 'url origin' ? " (the URL's origin, the default)" : ' (its audience option)'}`,
                `token in ${s.tokenHeader}${s.authenticate ? '' : ' (authenticate: false: none is sent)'}, identity ${s.identity + 1}`,
              ],
            ]),
      ),
    );
    result.identities.forEach((identity, i) => {
      parts.push(
        section(`Identity ${i + 1} (${identity.services.join(', ')})`, [
          [
            'custom',
            identity.customProvider && `tokenProvider ${identity.customProvider}: doctor cannot see its credentials`,
          ],
          [
            'source',
            identity.credentials &&
              (identity.credentials.source ?? `none could be built: ${identity.credentials.error}`),
          ],
          ['because', identity.credentials?.because],
          ['impersonates', identity.credentials?.impersonates],
        ]),
      );
    });
    const inbound = result.inbound;
    parts.push(
      section(
        'Inbound',
        inbound
          ? [
              ['audiences', inbound.audiences.length > 0 ? inbound.audiences.join(', ') : 'none (IAP assertions only)'],
              ['mode', inbound.mode],
              ['certsUrl', inbound.certsUrl],
              ['IAP', inbound.iap && `${inbound.iap.audiences.join(', ')} (keys ${inbound.iap.certsUrl})`],
              ['allow-list', inbound.allowedCallers?.join(', ') ?? 'any caller (allowAnyCaller: true)'],
              ['mount', inbound.mount],
            ]
          : [['', 'none: no guard is configured']],
      ),
    );
    const { refusals, failures, judged } = result.cloudRun;
    parts.push(
      section(`On Cloud Run${judged ? '' : ' (--cloud-run makes these errors)'}`, [
        ['at boot', refusals.map((p) => `${p.field} ${p.problem}`)],
        ['at run time', failures.map((p) => `${p.field} ${p.problem}`)],
        ['', refusals.length + failures.length === 0 ? 'nothing that Cloud Run refuses' : undefined],
      ]),
    );
  }
  parts.push(conclusion(result));
  return parts.join('\n');
}
