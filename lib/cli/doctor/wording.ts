import { audienceFacts } from './audience.facts.js';

const MAX_SHOWN = 200;

/**
 * A value for a sentence: a plain ASCII word as it is, anything else as JSON with every character
 * outside printable ASCII escaped (a claim can hold terminal escapes or look-alikes), at most 200
 * characters; `none` for `undefined`.
 */
export function shown(value: unknown): string {
  if (value === undefined) return 'none';
  const text =
    typeof value === 'string' && /^[\x21-\x7e]+$/.test(value)
      ? value
      : (JSON.stringify(value) ?? typeof value).replace(
          /[^\x20-\x7e]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/** `3599 s`, `2 h 5 min`: a duration for people. */
export function sinceNow(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/**
 * How to get a service account's ID token for `audience` (a URL's origin when it is a URL): from
 * the metadata server on Google Cloud, with gcloud elsewhere.
 */
export function idTokenCommand(audience: string | undefined): string {
  const aud = (audience && audienceFacts(audience).origin) ?? audience ?? 'SERVICE_URL';
  return (
    `on Google Cloud, the metadata server's …/service-accounts/default/identity?audience=${aud}&format=full ` +
    `(this library's ServiceClient asks for it); elsewhere ` +
    `\`gcloud auth print-identity-token --impersonate-service-account=SA_EMAIL --audiences=${aud} --include-email\``
  );
}
