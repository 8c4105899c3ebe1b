import { request } from 'node:http';

/** An HTTP answer as a client library sees it. */
export interface WireReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends exactly this request line and these headers (no defaults besides `Host`, no redirects
 * followed): the requests client libraries send, written from their source.
 */
export function wire(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<WireReply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A form POST (`application/x-www-form-urlencoded`), as OAuth clients send their grants. */
export function postForm(
  base: string,
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<WireReply> {
  const body = new URLSearchParams(form).toString();
  return wire(base, 'POST', path, { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body);
}

/** A JSON POST with a bearer token, as IAM Credentials clients send theirs. */
export function postJson(
  base: string,
  path: string,
  json: unknown,
  accessToken: string,
  headers: Record<string, string> = {},
): Promise<WireReply> {
  const body = typeof json === 'string' ? json : JSON.stringify(json);
  return wire(
    base,
    'POST',
    path,
    { 'Content-Type': 'application/json', Authorization: `Bearer ${accessToken}`, ...headers },
    body,
  );
}

/** The parsed JSON body of a reply. */
export const jsonOf = (reply: WireReply): Record<string, unknown> => JSON.parse(reply.body) as Record<string, unknown>;
