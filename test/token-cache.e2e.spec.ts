import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CloudRunAuthModule, IdTokenCache, IdTokenFetchError, type CloudRunAuthModuleOptions } from '../lib/index.js';
import { bearer, payloadOf, startTarget, type Target } from './utils/target.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';

const IDENTITY = 'service-accounts/default/identity';

describe('the shared ID-token cache', () => {
  let emu: Emulator;
  let target: Target;
  let app: INestApplication | undefined;

  async function setup(options: Omit<CloudRunAuthModuleOptions, 'services'> = {}, lifetime?: number) {
    emu = await startEmulator({ tokenLifetimeSeconds: lifetime });
    process.env.GCE_METADATA_HOST = emu.metadataHost;
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }], ...options });
    return clientOf(app, 'orders').axiosRef;
  }
  const sentTokens = () => target.requests.map((r) => bearer(r.headers));

  beforeEach(async () => {
    target = await startTarget();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await app?.close();
    app = undefined;
    await target.close();
    await emu?.close();
  });

  it('shares one entry between two clients with the same audience', async () => {
    emu = await startEmulator();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
    app = await createCallerApp({
      services: [
        { name: 'a', url: `${target.url}/a` },
        { name: 'b', url: `${target.url}/b` },
      ],
    });
    await Promise.all([clientOf(app, 'a').axiosRef.get('/x'), clientOf(app, 'b').axiosRef.get('/y')]);
    await clientOf(app, 'b').axiosRef.get('/z');
    expect(emu.requestCount(IDENTITY)).toBe(1);
    expect(new Set(sentTokens()).size).toBe(1);
  });

  it('reads expiry from exp: a 290-second token is fetched once, then refreshed ahead of expiry', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = await setup({}, 290);
    const start = Date.now();
    for (let s = 0; s <= 140; s += 10) {
      vi.setSystemTime(start + s * 1000);
      await client.get('/o');
    }
    expect(emu.requestCount(IDENTITY)).toBe(1);
    // Refresh window = min(300 s, lifetime / 2) = 145 s before exp.
    vi.setSystemTime(start + 150_000);
    await client.get('/o');
    await vi.waitFor(() => expect(emu.requestCount(IDENTITY)).toBe(2));
  });

  it('refresh-ahead serves the cached token at once while one background fetch runs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = await setup();
    const start = Date.now();
    await client.get('/warm');
    const first = sentTokens()[0]!;
    vi.setSystemTime(start + (3600 - 200) * 1000); // inside the 300 s window
    emu.fail(IDENTITY, { mode: 'slow', delayMs: 400 });
    await Promise.all(Array.from({ length: 20 }, () => client.get('/during')));
    // All 20 went out with the old token while the single refresh was still pending.
    expect(sentTokens().slice(1)).toEqual(Array(20).fill(first));
    expect(emu.requestCount(IDENTITY)).toBe(2);
    await vi.waitFor(async () => {
      await client.get('/after');
      expect(sentTokens().at(-1)).not.toBe(first);
    });
    expect(emu.requestCount(IDENTITY)).toBe(2);
    expect(payloadOf(sentTokens().at(-1)!).iat).toBeGreaterThanOrEqual((payloadOf(first).iat as number) + 3400);
  });

  it('keeps serving a valid cached token when the background refresh fails, and warns', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const logs: string[] = [];
    const client = await setup({ tokenCache: { deadlineMs: 300, initialBackoffMs: 10 } });
    app!.useLogger(captureLogger(logs));
    const start = Date.now();
    await client.get('/warm');
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    vi.setSystemTime(start + 3500_000);
    await client.get('/during');
    await vi.waitFor(() => expect(logs.some((l) => l.includes('Background ID-token refresh'))).toBe(true));
    await client.get('/still');
    expect(target.requests.map((r) => r.url)).toEqual(['/warm', '/during', '/still']);
    expect(new Set(sentTokens()).size).toBe(1);
    expect(logs.join('\n')).not.toContain(sentTokens()[0]);
  });

  it('retries 503s with backoff and the request succeeds', async () => {
    const client = await setup({ tokenCache: { initialBackoffMs: 10 } });
    emu.fail(IDENTITY, { mode: 'error', times: 3 });
    const res = await client.get('/o');
    expect(res.status).toBe(200);
    expect(emu.requestCount(IDENTITY)).toBe(4);
    expect(bearer(target.requests[0]!.headers)).toBeDefined();
  });

  it('retries an answer that is not a token', async () => {
    const client = await setup({ tokenCache: { initialBackoffMs: 10 } });
    emu.fail(IDENTITY, { mode: 'garbage', times: 1 });
    await client.get('/o');
    expect(emu.requestCount(IDENTITY)).toBe(2);
    expect(payloadOf(bearer(target.requests[0]!.headers)!).aud).toBe(target.url);
  });

  it('a hanging metadata server fails the request with IdTokenFetchError within the deadline', async () => {
    const client = await setup({ tokenCache: { timeoutMs: 150, deadlineMs: 500, initialBackoffMs: 10 } });
    emu.fail(IDENTITY, { mode: 'hang', times: Infinity });
    const started = Date.now();
    const error = await client.get('/o').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect((error as IdTokenFetchError).message).toMatch(/timed out/);
    expect((error as IdTokenFetchError).message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS|impersonate/);
    expect(Date.now() - started).toBeLessThan(500 + 1500);
    expect(emu.requestCount(IDENTITY)).toBeGreaterThanOrEqual(2);
    expect(target.requests).toHaveLength(0);
  });

  it('fails with a typed error that names the metadata host when nothing listens there', async () => {
    const client = await setup({ tokenCache: { deadlineMs: 200, initialBackoffMs: 10 } });
    await emu.close();
    const error = (await client.get('/o').catch((e: unknown) => e)) as IdTokenFetchError;
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect(error.audience).toBe(target.url);
    expect(error.message).toContain(emu.metadataHost);
    emu = await startEmulator();
  });

  it('prefetch: true warms every audience at bootstrap', async () => {
    emu = await startEmulator();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
    app = await createCallerApp({
      prefetch: true,
      services: [
        { name: 'a', url: target.url },
        { name: 'b', url: target.url, audience: 'https://custom.example' },
        { name: 'c', url: target.url, authenticate: false },
      ],
    });
    expect(
      emu
        .requests(IDENTITY)
        .map((r) => r.query.audience)
        .sort(),
    ).toEqual([target.url, 'https://custom.example']);
    await clientOf(app, 'a').axiosRef.get('/x');
    expect(emu.requestCount(IDENTITY)).toBe(2);
  });

  it('prefetch failures do not fail boot', async () => {
    emu = await startEmulator();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          prefetch: true,
          tokenCache: { deadlineMs: 200, initialBackoffMs: 10 },
          services: [{ name: 'a', url: target.url }],
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).resolves.toBeDefined();
    expect(emu.requestCount(IDENTITY)).toBeGreaterThanOrEqual(1);
  });

  it('is injectable for calls the module does not make', async () => {
    await setup();
    const cache = app!.get(IdTokenCache);
    const [a, b] = await Promise.all([cache.getToken('grpc://svc'), cache.getToken('grpc://svc')]);
    expect(a).toBe(b);
    expect(payloadOf(a).aud).toBe('grpc://svc');
    expect(emu.requestCount(IDENTITY)).toBe(1);
  });
});

function captureLogger(lines: string[]): LoggerService {
  const push = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  return { log: push, error: push, warn: push, debug: push, verbose: push, fatal: push };
}
