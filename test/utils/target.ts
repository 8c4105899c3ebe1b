import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface TargetRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type TargetHandler = (req: TargetRequest, res: ServerResponse) => boolean | void;

/**
 * A loopback HTTP target that records every request; `handler` may answer first (return true).
 * `host` is an IPv4 address to listen on, e.g. `127.0.0.2`: loopback to Linux, but not to the library.
 */
export async function startTarget(handler?: TargetHandler, host = '127.0.0.1') {
  const requests: TargetRequest[] = [];
  const sockets = new Set<Socket>();
  let current = handler;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      requests.push(record);
      if (current?.(record, res)) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    setHandler(next?: TargetHandler) {
      current = next;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export type Target = Awaited<ReturnType<typeof startTarget>>;

/** Decodes a JWT payload without verifying it (test assertions only). */
export { payloadOf } from './tokens.js';

/** The bearer token of a recorded request's header, if any. */
export function bearer(headers: IncomingHttpHeaders, name = 'authorization'): string | undefined {
  const value = headers[name];
  return typeof value === 'string' && value.startsWith('Bearer ') ? value.slice(7) : undefined;
}
