/** Who answered a call: Cloud Run's front end (its own refusal page), CloudRunAuthGuard (its challenge), or the service itself. */
export type Answerer = 'cloud-run' | 'guard' | 'service';

/** One request to the target with the token, and its answer; never the token, nor the answer's body. */
export interface CallReport {
  method: string;
  url: string;
  /** The header the token went in, as `Bearer <token>`. */
  header: 'authorization' | 'x-serverless-authorization';
  status?: number;
  from?: Answerer;
  /** The answer's `WWW-Authenticate`, when it has one. */
  wwwAuthenticate?: string;
  /** Where a redirect points (not followed: the token would go with it). */
  location?: string;
  /** Why there was no answer: `ECONNREFUSED`, `ENOTFOUND`, `timed out after 10 s`. */
  error?: string;
  ms: number;
}

/** Most of an answer's body read to tell who answered; the rest is left unread. */
const MAX_BODY_BYTES = 64 * 1024;
// Google Front End's refusal pages: 403 "…to get URL <code>/</code> from this server.", 401 "…to the requested URL".
const CLOUD_RUN_PAGE = /Your client does not have permission|The request was not authorized to invoke this service/i;
// CloudRunAuthGuard's challenges (RFC 6750): bare for no token, invalid_token on a 401, insufficient_scope on a 403.
const GUARD_CHALLENGE = /^Bearer(?: error="(?:invalid_token|insufficient_scope)")?$/;

/** Sends one request to `url` with `token` in `header` and reports who answered what. */
export async function callTarget(
  url: string,
  token: string,
  options: { method: string; header: CallReport['header']; timeoutMs: number },
): Promise<CallReport> {
  const { method, header, timeoutMs } = options;
  const started = Date.now();
  const report: CallReport = { method, url, header, ms: 0 };
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { [header]: `Bearer ${token}` },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const name = (error as Error).name;
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    report.error =
      name === 'TimeoutError' ? `timed out after ${timeoutMs / 1000} s` : typeof code === 'string' ? code : name;
    report.ms = Date.now() - started;
    return report;
  }
  const body = await readSome(response);
  report.ms = Date.now() - started;
  report.status = response.status;
  const challenge = response.headers.get('www-authenticate');
  if (challenge) report.wwwAuthenticate = challenge;
  const location = response.headers.get('location');
  if (location && response.status >= 300 && response.status < 400) report.location = location;
  report.from = answerer(response.status, challenge, body);
  return report;
}

function answerer(status: number, challenge: string | null, body: string): Answerer {
  if ((status === 401 || status === 403) && CLOUD_RUN_PAGE.test(body)) return 'cloud-run';
  if ((status === 401 || status === 403) && challenge !== null && GUARD_CHALLENGE.test(challenge)) return 'guard';
  return 'service';
}

async function readSome(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_BODY_BYTES) {
      const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
      if (done || !value) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short says as much about who answered as a whole one.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}
