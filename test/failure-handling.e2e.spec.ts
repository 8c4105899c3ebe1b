import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CanceledError, isAxiosError } from 'axios';
import {
  CloudRunAuthConfigError,
  CloudRunAuthModule,
  IdTokenCache,
  IdTokenFetchError,
  IdTokenProvider,
  InjectServiceClient,
  ServiceClient,
  TargetRejectedTokenError,
  type CloudRunAuthModuleOptions,
} from '../lib/index.js';
import type { Emulator } from '../lib/testing/index.js';
import { adapterRefusal } from '../lib/outbound/client/adapter.rule.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';
import { runScript } from './utils/child-process.js';
import { startTarget, type Target } from './utils/target.js';
import { useLoopbackStack } from './utils/loopback-stack.js';

const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FAST = { initialBackoffMs: 10, maxBackoffMs: 50 };

let emu: Emulator;
let target: Target;
let app: INestApplication | undefined;
let dir: string;

useLoopbackStack((stack) => ({ emu, target } = stack));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'failures-'));
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const boot = async (options: CloudRunAuthModuleOptions) =>
  (app = await createCallerApp({ tokenCache: FAST, ...options }));
const settle = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value, error: undefined, at: Date.now() }),
    (error: unknown) => ({ value: undefined, error, at: Date.now() }),
  );

describe('cancellation and deadlines', () => {
  it("a request's timeout bounds its wait for a token while the metadata server hangs", async () => {
    emu.fail(IDENTITY, { mode: 'hang', times: 10 });
    const client = clientOf(await boot({ services: [{ name: 'orders', url: target.url }] }), 'orders');
    const started = Date.now();
    const { error, at } = await settle(client.axiosRef.get('/x', { timeout: 200 }));
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect((error as Error).message).toMatch(/no ID token for audience .* within 200 ms/);
    // The cache's own deadline (6 s) would be far later.
    expect(at - started).toBeLessThan(1500);
    expect(target.requests).toHaveLength(0);
  });

  it("an aborted request rejects at once with axios' CanceledError, and does not fail the others", async () => {
    emu.fail(IDENTITY, { mode: 'slow', delayMs: 400, times: 1 });
    const client = clientOf(await boot({ services: [{ name: 'orders', url: target.url }] }), 'orders');
    const controller = new AbortController();
    const aborted = settle(client.axiosRef.get('/a', { signal: controller.signal }));
    const other = settle(client.axiosRef.get('/b'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const abortedAt = Date.now();
    controller.abort();
    const first = await aborted;
    expect(first.error).toBeInstanceOf(CanceledError);
    expect(first.at - abortedAt).toBeLessThan(200);
    expect((await other).value?.status).toBe(200);
    expect(emu.requestCount(IDENTITY)).toBe(1);
    expect(target.requests.map((r) => r.url)).toEqual(['/b']);
  });

  it("one audience's abort does not fail another audience that shares the identity's access token", async () => {
    // Impersonation: both audiences need the metadata server's access token first (one shared fetch).
    emu.fail('/computeMetadata/v1/instance/service-accounts/default/token', { mode: 'slow', delayMs: 400, times: 1 });
    const impersonated = {
      impersonate: 'orders-caller@proj.iam.gserviceaccount.com',
      iamCredentialsUrl: emu.iamCredentialsUrl,
    };
    app = await createCallerApp({
      tokenCache: FAST,
      credentials: impersonated,
      services: [
        { name: 'a', url: target.url },
        { name: 'b', url: `${target.url.replace('127.0.0.1', 'localhost')}` },
      ],
    });
    const controller = new AbortController();
    const a = settle(clientOf(app, 'a').axiosRef.get('/a', { signal: controller.signal }));
    const b = settle(clientOf(app, 'b').axiosRef.get('/b'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    expect((await a).error).toBeInstanceOf(CanceledError);
    expect((await b).value?.status).toBe(200);
    expect(emu.requestCount('/computeMetadata/v1/instance/service-accounts/default/token')).toBe(1);
  });

  it('a hung workload-identity exchange does not block other identities, and its request fails within its deadline', async () => {
    writeFileSync(join(dir, 'subject-token.txt'), 'external-oidc-subject-token');
    const wif = join(dir, 'wif.json');
    writeFileSync(
      wif,
      JSON.stringify({
        type: 'external_account',
        audience: '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: emu.stsUrl,
        credential_source: { file: join(dir, 'subject-token.txt') },
        service_account_impersonation_url: `${emu.iamCredentialsUrl}/v1/projects/-/serviceAccounts/wif@proj.iam.gserviceaccount.com:generateAccessToken`,
      }),
    );
    emu.fail('/v1/token', { mode: 'hang', times: 10 });
    app = await createCallerApp({
      tokenCache: { ...FAST, timeoutMs: 300, deadlineMs: 800 },
      services: [
        { name: 'federated', url: target.url, credentials: { keyFile: wif } },
        { name: 'metadata', url: `${target.url.replace('127.0.0.1', 'localhost')}` },
      ],
    });
    const started = Date.now();
    const federated = settle(clientOf(app, 'federated').axiosRef.get('/f'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const other = await settle(clientOf(app, 'metadata').axiosRef.get('/m'));
    expect(other.value?.status).toBe(200);
    expect(other.at - started).toBeLessThan(800);
    const { error, at } = await federated;
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect(at - started).toBeLessThan(800 + 500);
    expect(target.requests.map((r) => r.url)).toEqual(['/m']);
  });
});

describe('shutdown', () => {
  @Controller()
  class ProxyController {
    constructor(@InjectServiceClient('orders') private readonly orders: ServiceClient) {}

    @Get('proxy')
    async proxy() {
      try {
        await this.orders.axiosRef.get('/x');
        return 'answered';
      } catch (error) {
        return `failed: ${(error as Error).name}`;
      }
    }
  }

  it('app.close() with a request waiting on a hung token fetch returns within 1 s', async () => {
    emu.fail(IDENTITY, { mode: 'hang', times: 10 });
    @Module({
      imports: [CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url }])],
      controllers: [ProxyController],
    })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const server = moduleRef.createNestApplication({ logger: false });
    await server.listen(0, '127.0.0.1');
    const url = (await server.getUrl()).replace('[::1]', '127.0.0.1');
    const pending = fetch(`${url}/proxy`).then((res) => res.text());
    await expect.poll(() => emu.requestCount(IDENTITY)).toBeGreaterThan(0);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('failed: IdTokenFetchError');
  });

  it('a process running an app exits within 2 s of SIGTERM while a request waits on a hung token fetch', async () => {
    emu.fail(IDENTITY, { mode: 'hang', times: 10 });
    const running = runScript(
      join(ROOT, 'test/fixtures/shutdown-app.mjs'),
      [target.url],
      { GCE_METADATA_HOST: emu.metadataHost },
      { cwd: ROOT },
    );
    try {
      const [, url] = await running.waitForStdout(/listening (\S+)/, 15_000);
      const pending = fetch(`${url!.replace('[::1]', '127.0.0.1')}/proxy`).then((res) => res.text());
      await expect.poll(() => emu.requestCount(IDENTITY)).toBeGreaterThan(0);
      const started = Date.now();
      running.child.kill('SIGTERM');
      const exit = await running.exited;
      expect(Date.now() - started).toBeLessThan(2000);
      expect(exit.signal ?? exit.code).toBeDefined();
      expect(await pending).toBe('failed: IdTokenFetchError');
    } finally {
      await running.kill();
    }
  });
});

describe('recovery', () => {
  it('a credentials file unreadable at first use and fixed later: later requests succeed without restart', async () => {
    const keyFile = join(dir, 'key.json');
    const client = clientOf(
      await boot({ services: [{ name: 'orders', url: target.url, credentials: { keyFile } }] }),
      'orders',
    );
    const first = await settle(client.axiosRef.get('/x'));
    expect(first.error).toBeInstanceOf(IdTokenFetchError);
    expect((first.error as Error).message).toMatch(/cannot read credentials \(keyFile .*key\.json\): ENOENT/);
    writeFileSync(keyFile, JSON.stringify(emu.createServiceAccountKey()));
    expect((await client.axiosRef.get('/x')).status).toBe(200);
  });

  it('retries unknown provider errors only when they look transient', async () => {
    class FlakyProvider extends IdTokenProvider {
      calls = 0;
      constructor(private readonly failure: () => unknown) {
        super();
      }
      async getIdToken(audience: string): Promise<string> {
        this.calls += 1;
        if (this.calls === 1) throw this.failure();
        return emu.mintIdToken({ aud: audience });
      }
    }
    const bug = new FlakyProvider(() => new TypeError('cannot read properties of undefined'));
    const bugCache = new IdTokenCache(bug, FAST);
    await expect(bugCache.getToken('https://a.example')).rejects.toMatchObject({
      name: 'IdTokenFetchError',
      retryable: false,
    });
    expect(bug.calls).toBe(1);
    const network = new FlakyProvider(() => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(new IdTokenCache(network, FAST).getToken('https://a.example')).resolves.toMatch(/^ey/);
    expect(network.calls).toBe(2);
    const http503 = new FlakyProvider(() => Object.assign(new Error('unavailable'), { response: { status: 503 } }));
    await expect(new IdTokenCache(http503, FAST).getToken('https://a.example')).resolves.toMatch(/^ey/);
    expect(http503.calls).toBe(2);
  });

  it('drops entries unused for long after their token expired', async () => {
    class Provider extends IdTokenProvider {
      async getIdToken(audience: string): Promise<string> {
        return emu.mintIdToken({ aud: audience }, { lifetimeSeconds: 60 });
      }
    }
    const cache = new IdTokenCache(new Provider());
    const entries = () =>
      [...(cache as unknown as { entries: Map<unknown, Map<string, unknown>> }).entries.values()].flatMap((m) => [
        ...m.keys(),
      ]);
    await cache.getToken('https://old.example');
    const realNow = Date.now;
    try {
      const later = realNow() + 2 * 3_600_000;
      Date.now = () => later;
      await cache.getToken('https://new.example');
      expect(entries()).toEqual(['https://new.example']);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('a target that always answers 401', () => {
  beforeEach(() => {
    target.setHandler((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end('{"message":"Unauthorized"}');
      return true;
    });
  });

  it('costs a bounded number of metadata fetches for 500 requests, and each gets a TargetRejectedTokenError', async () => {
    const client = clientOf(await boot({ services: [{ name: 'orders', url: target.url }] }), 'orders');
    const errors: unknown[] = [];
    for (let batch = 0; batch < 10; batch += 1) {
      const results = await Promise.all(Array.from({ length: 50 }, () => settle(client.axiosRef.get('/x'))));
      errors.push(...results.map((r) => r.error));
    }
    // One fetch for the first token, one for the fresh token its replay carried; then a window of
    // 30 s in which 401s invalidate nothing.
    expect(emu.requestCount(IDENTITY)).toBeLessThanOrEqual(2);
    expect(errors).toHaveLength(500);
    for (const error of errors) {
      expect(error).toBeInstanceOf(TargetRejectedTokenError);
      expect(isAxiosError(error)).toBe(true);
    }
    const first = errors[0] as TargetRejectedTokenError;
    expect(first.response?.status).toBe(401);
    expect(first.service).toBe('orders');
    expect(first.audience).toBe(target.url);
    expect(first.message).toContain(`orders rejected the ID token for audience ${target.url} with 401`);
    expect(first.message).toMatch(/roles\/run\.invoker/);
    const token = String(target.requests[0]!.headers.authorization).slice('Bearer '.length);
    expect(JSON.stringify(errors.map((e) => (e as Error).message))).not.toContain(token);
    expect(JSON.stringify(first.config?.headers)).not.toContain(token);
  });

  it('a concurrent burst of 200 makes at most 2 metadata fetches', async () => {
    const client = clientOf(await boot({ services: [{ name: 'orders', url: target.url }] }), 'orders');
    await Promise.all(Array.from({ length: 200 }, () => settle(client.axiosRef.get('/x'))));
    expect(emu.requestCount(IDENTITY)).toBeLessThanOrEqual(2);
  });

  it('replays once even when validateStatus accepts 401, and hands over the last answer', async () => {
    const client = clientOf(
      await boot({ services: [{ name: 'orders', url: target.url, http: { validateStatus: () => true } }] }),
      'orders',
    );
    const response = await client.axiosRef.get('/x');
    expect(response.status).toBe(401);
    expect(target.requests).toHaveLength(2);
    expect(emu.requestCount(IDENTITY)).toBe(2);
  });
});

describe('the adapter rule', () => {
  it('decides a list of adapters again when it is changed in place, and every value on its own', () => {
    const list = ['http'];
    expect(adapterRefusal(list)).toBeUndefined();
    expect(adapterRefusal(list)).toBeUndefined();
    list[0] = 'fetch';
    expect(adapterRefusal(list)).toMatch(/follows redirects itself/);
    list.splice(0, 1, 'http', 'fetch');
    expect(adapterRefusal(list)).toBeUndefined();
    expect(adapterRefusal('fetch')).toMatch(/follows redirects itself/);
    expect(adapterRefusal('http')).toBeUndefined();
    expect(adapterRefusal('no-such-adapter')).toMatch(/not an adapter/);
    expect(adapterRefusal(undefined)).toBeUndefined();
  });

  it('refuses the fetch adapter at boot for an authenticated service', async () => {
    const error = await createCallerApp({
      services: [{ name: 'orders', url: target.url, http: { adapter: 'fetch' } }],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect((error as CloudRunAuthConfigError).field).toBe('services[orders].http.adapter');
    expect((error as Error).message).toMatch(/follows redirects itself/);
  });

  it('sends no token through the fetch adapter chosen per request, so none can follow a cross-origin redirect', async () => {
    const elsewhere = await startTarget();
    try {
      target.setHandler((req, res) => {
        res.writeHead(302, { location: `${elsewhere.url}/landed` });
        res.end();
        return true;
      });
      const client = clientOf(await boot({ services: [{ name: 'orders', url: target.url }] }), 'orders');
      const error = await client.axiosRef.get('/redirect', { adapter: 'fetch' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect(target.requests).toHaveLength(0);
      expect(elsewhere.requests).toHaveLength(0);
      // The http adapter follows the same redirect without the token.
      await client.axiosRef.get('/redirect');
      expect(target.requests[0]!.headers.authorization).toMatch(/^Bearer /);
      expect(elsewhere.requests[0]!.headers.authorization).toBeUndefined();
    } finally {
      await elsewhere.close();
    }
  });
});
