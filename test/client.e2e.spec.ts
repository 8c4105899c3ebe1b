import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { bearer, payloadOf, startTarget, type Target } from './utils/target.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';

const IDENTITY = 'service-accounts/default/identity';

describe('ServiceClient against the emulator', () => {
  let emu: Emulator;
  let target: Target;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    emu = await startEmulator();
    target = await startTarget();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await target.close();
    await emu.close();
  });

  it('sends a Google-shaped ID token whose audience is the target origin', async () => {
    app = await createCallerApp({ services: [{ name: 'orders', url: `${target.url}/api` }] });
    const res = await firstValueFrom(clientOf(app, 'orders').get('/orders/1'));
    expect(res.status).toBe(200);
    const token = bearer(target.requests[0]!.headers)!;
    expect(payloadOf(token)).toMatchObject({ aud: target.url, email: emu.serviceAccountEmail, email_verified: true });
    expect(target.requests[0]!.url).toBe('/api/orders/1');
  });

  it('100 concurrent cold requests make exactly one metadata call', async () => {
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const client = clientOf(app, 'orders');
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.axiosRef.get(`/o/${i}`)));
    expect(target.requests).toHaveLength(100);
    expect(emu.requestCount(IDENTITY)).toBe(1);
    expect(new Set(target.requests.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('sends no token to another origin, even through an absolute URL', async () => {
    const other = await startTarget();
    try {
      app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
      const client = clientOf(app, 'orders');
      await client.axiosRef.get(`${other.url}/steal`);
      await client.axiosRef.get('/steal', { baseURL: other.url });
      await client.axiosRef.get(`http://localhost:${target.port}/same-port-other-host`);
      expect(other.requests).toHaveLength(2);
      expect(other.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
      expect(target.requests[0]!.headers.authorization).toBeUndefined();
      expect(emu.requestCount(IDENTITY)).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('decides the origin exactly where axios sends the request', async () => {
    const other = await startTarget();
    try {
      app = await createCallerApp({ services: [{ name: 'orders', url: `${target.url}/api` }] });
      const client = clientOf(app, 'orders').axiosRef;
      const shapes: Array<[string, Record<string, unknown>]> = [
        ['x', {}],
        ['/x', {}],
        ['?q=1', {}],
        ['@127.0.0.1/x', {}],
        ['.evil.example/x', {}],
        [`${other.url}/abs`, {}],
        [`${other.url}/not-abs`, { allowAbsoluteUrls: false }],
        ['/base', { baseURL: other.url }],
        ['/x', { params: { next: other.url } }],
        [`${target.url.toUpperCase().replace('HTTP', 'http')}/upper`, {}],
      ];
      for (const [url, config] of shapes) await client.get(url, config).catch(() => undefined);
      // Every request went somewhere; the token went exactly with those that reached the target.
      expect(target.requests.length + other.requests.length).toBe(shapes.length);
      expect(target.requests.every((r) => bearer(r.headers) !== undefined)).toBe(true);
      expect(other.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
      expect(other.requests.map((r) => r.url).sort()).toEqual(['/abs', '/base']);
      // A protocol-relative URL is absolute to axios but has no origin: no token, and axios refuses it.
      await expect(client.get(`//127.0.0.1:${other.port}/x`)).rejects.toThrow();
      expect(other.requests).toHaveLength(2);
    } finally {
      await other.close();
    }
  });

  it.each(['authorization', 'x-serverless-authorization'] as const)(
    'drops the %s token on a redirect to another origin, keeps it on a same-origin one',
    async (tokenHeader) => {
      const other = await startTarget();
      try {
        target.setHandler((req, res) => {
          if (req.url === '/away' || req.url === '/home') {
            const location = req.url === '/away' ? `${other.url}/landing` : '/landed';
            res.writeHead(302, { location });
            res.end();
            return true;
          }
        });
        app = await createCallerApp({ services: [{ name: 'orders', url: target.url, tokenHeader }] });
        const client = clientOf(app, 'orders');
        await client.axiosRef.get('/away');
        await client.axiosRef.get('/home');
        expect(other.requests).toHaveLength(1);
        expect(other.requests[0]!.headers[tokenHeader]).toBeUndefined();
        expect(target.requests.map((r) => [r.url, bearer(r.headers, tokenHeader) !== undefined])).toEqual([
          ['/away', true],
          ['/home', true],
          ['/landed', true],
        ]);
      } finally {
        await other.close();
      }
    },
  );

  it('x-serverless-authorization leaves Authorization to the application', async () => {
    app = await createCallerApp({
      services: [{ name: 'orders', url: target.url, tokenHeader: 'x-serverless-authorization' }],
    });
    await clientOf(app, 'orders').axiosRef.get('/o', { headers: { Authorization: 'Basic YXBwOnNlY3JldA==' } });
    const headers = target.requests[0]!.headers;
    expect(headers.authorization).toBe('Basic YXBwOnNlY3JldA==');
    expect(payloadOf(bearer(headers, 'x-serverless-authorization')!).aud).toBe(target.url);
  });

  it('authenticate: false sends no token and never asks the metadata server', async () => {
    app = await createCallerApp({ services: [{ name: 'local', url: target.url, authenticate: false }] });
    await clientOf(app, 'local').axiosRef.get('/o');
    expect(target.requests[0]!.headers.authorization).toBeUndefined();
    expect(emu.requestCount()).toBe(0);
  });

  it('on a 401 drops the token, fetches a fresh one and retries exactly once', async () => {
    let calls = 0;
    target.setHandler((_req, res) => {
      if (++calls > 1) return false;
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end();
      return true;
    });
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const res = await clientOf(app, 'orders').axiosRef.post('/o', { item: 42 });
    expect(res.status).toBe(200);
    expect(target.requests).toHaveLength(2);
    expect(target.requests.map((r) => r.body)).toEqual(['{"item":42}', '{"item":42}']);
    expect(emu.requestCount(IDENTITY)).toBe(2);
    expect(bearer(target.requests[1]!.headers)).toBeDefined();
  });

  it('a second 401 is returned to the caller; a stream body is not replayed', async () => {
    target.setHandler((_req, res) => {
      res.writeHead(401);
      res.end();
      return true;
    });
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const client = clientOf(app, 'orders');
    await expect(client.axiosRef.get('/o')).rejects.toMatchObject({ response: { status: 401 } });
    expect(target.requests).toHaveLength(2);
    await expect(client.axiosRef.post('/upload', Readable.from(['a', 'b']))).rejects.toMatchObject({
      response: { status: 401 },
    });
    expect(target.requests).toHaveLength(3);
  });

  it('no token appears when a response or an error is logged', async () => {
    target.setHandler((req, res) => {
      if (req.url !== '/fail') return false;
      res.writeHead(500);
      res.end('boom');
      return true;
    });
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const client = clientOf(app, 'orders');
    const ok = await firstValueFrom(client.get('/ok'));
    const error = await firstValueFrom(client.get('/fail')).catch((e: unknown) => e);
    const token = bearer(target.requests[0]!.headers)!;
    expect(token).toMatch(/^ey/);
    for (const value of [ok, error]) {
      expect(inspect(value, { depth: 12 })).not.toContain(token);
      expect(JSON.stringify(value, safeReplacer())).not.toContain(token);
    }
    expect(String((error as Error).stack)).not.toContain(token);
  });

  it('URL-encodes the audience: a URL with its own query arrives intact', async () => {
    const audience = 'https://x.example/p?a=1&b=2';
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url, audience }] });
    await clientOf(app, 'orders').axiosRef.get('/o');
    const [request] = emu.requests(IDENTITY);
    expect(request!.query).toEqual({ audience, format: 'full' });
    expect(request!.headers['metadata-flavor']).toBe('Google');
    expect(payloadOf(bearer(target.requests[0]!.headers)!).aud).toBe(audience);
  });

  it('keeps the Observable API and aborts the request on unsubscribe', async () => {
    // The target never answers /slow and never closes it: only the client can end that connection.
    let closedByClient: boolean | undefined;
    target.setHandler((req, res) => {
      if (req.url !== '/slow') return false;
      res.on('close', () => (closedByClient = !res.writableEnded));
      return true;
    });
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const client = clientOf(app, 'orders');
    const delivered = vi.fn();
    const sub = client.get('/slow').subscribe({ next: delivered, error: delivered });
    await vi.waitFor(() => expect(target.requests).toHaveLength(1));
    expect(closedByClient).toBeUndefined();
    sub.unsubscribe();
    await vi.waitFor(() => expect(closedByClient).toBe(true), { timeout: 1000, interval: 10 });
    expect(delivered).not.toHaveBeenCalled();
    const { data } = await firstValueFrom(client.get<{ path: string }>('/after'));
    expect(data.path).toBe('/after');
    expect(client.service).toMatchObject({ name: 'orders', audience: target.url, tokenHeader: 'authorization' });
  });
});

/** JSON.stringify that survives the circular structures inside axios objects. */
function safeReplacer() {
  const seen = new WeakSet();
  return (_key: string, value: unknown) => {
    if (value && typeof value === 'object') {
      if (seen.has(value)) return undefined;
      seen.add(value);
    }
    return value;
  };
}
