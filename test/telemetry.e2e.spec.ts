import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import type { INestApplication } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CloudRunAuthConfigError,
  IdTokenProvider,
  type CloudRunAuthModuleOptions,
  type InboundOptions,
} from '../lib/index.js';
import type { Emulator } from '../lib/testing/index.js';
import { CloudRunAuthTelemetry } from '../lib/shared/telemetry/cloud-run-auth.telemetry.js';
import { TIMED_LOOKUP_INTERVAL } from '../lib/inbound/guard/cached-decision.js';
import { InboundTelemetry } from '../lib/inbound/inbound.telemetry.js';
import { OperatorLog } from '../lib/shared/telemetry/operator.log.js';
import { resolveTelemetryOptions } from '../lib/shared/telemetry/telemetry.options.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';
import { restoreEnvAfterEach } from './utils/env.js';
import { CapturingLogger, startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { useLoopbackStack } from './utils/loopback-stack.js';
import { bearer, type Target } from './utils/target.js';
import { startOpenTelemetry, type OpenTelemetrySdk } from './utils/telemetry.js';
import { mint } from './utils/tokens.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity';
const CERTS = '/oauth2/v3/certs';
const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const FAST = { initialBackoffMs: 10, maxBackoffMs: 50 };

const FETCHES = 'cloud_run_auth.token.fetches';
const FETCH_DURATION = 'cloud_run_auth.token.fetch.duration';
const LOOKUPS = 'cloud_run_auth.token.cache.lookups';
const RETRIES = 'cloud_run_auth.outbound.retries';
const DECISIONS = 'cloud_run_auth.inbound.decisions';
const VERIFY_DURATION = 'cloud_run_auth.inbound.verify.duration';
const JWKS_FETCHES = 'cloud_run_auth.jwks.fetches';
const FETCH_SPAN = 'cloud_run_auth.token.fetch';
const REJECTED_EVENT = 'cloud_run_auth.inbound.rejected';

let emu: Emulator;
let target: Target;
let otel: OpenTelemetrySdk | undefined;
let app: INestApplication | undefined;
let guarded: GuardedApp | undefined;

useLoopbackStack((stack) => ({ emu, target } = stack));
restoreEnvAfterEach(['GCE_METADATA_HOST', 'GOOGLE_APPLICATION_CREDENTIALS']);
afterEach(async () => {
  vi.useRealTimers();
  await app?.close();
  await guarded?.close();
  app = guarded = undefined;
  await otel?.shutdown();
  otel = undefined;
});

/** A caller app with one client, `orders`, for the target. */
async function caller(options: Omit<CloudRunAuthModuleOptions, 'services'> = {}, logger = new CapturingLogger()) {
  app = await createCallerApp(
    { services: [{ name: 'orders', url: target.url }], tokenCache: FAST, ...options },
    logger,
  );
  return { client: clientOf(app, 'orders').axiosRef, logger };
}

/** Every request runs in a span of its own, as HTTP server instrumentation would do. */
const traceEachRequest = (nest: INestApplication) =>
  nest.use(
    (
      request: { method: string; url: string },
      response: { on(event: string, fn: () => void): void },
      next: () => void,
    ) =>
      trace.getTracer('test').startActiveSpan(`${request.method} ${request.url}`, (span) => {
        response.on('finish', () => span.end());
        next();
      }),
  );

async function guard(inbound: Partial<InboundOptions> = {}, options: Omit<CloudRunAuthModuleOptions, 'inbound'> = {}) {
  guarded = await startGuardedApp(
    'express',
    {
      ...options,
      inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl, ...inbound },
    },
    new CapturingLogger(),
    traceEachRequest,
  );
  const status = async (path: string, token?: string) =>
    (await guarded!.call(path, token === undefined ? {} : { authorization: `Bearer ${token}` })).status;
  return { status, logger: guarded.logger };
}

describe('outbound metrics and spans', () => {
  it('a cold burst: one fetch and one span, under the request that waited; a lookup per request', async () => {
    otel = startOpenTelemetry();
    const { client } = await caller();
    await trace.getTracer('test').startActiveSpan('checkout', async (span) => {
      await Promise.all(Array.from({ length: 20 }, () => client.get('/burst')));
      span.end();
    });
    await client.get('/again');

    expect(emu.requestCount(IDENTITY)).toBe(1);
    const labels = { service: 'orders', audience: target.url };
    expect(await otel.total(FETCHES)).toBe(1);
    expect(await otel.total(FETCHES, { ...labels, source: 'metadata', outcome: 'ok' })).toBe(1);
    expect(await otel.total(FETCH_DURATION, { ...labels, source: 'metadata', outcome: 'ok' })).toBe(1);
    expect(await otel.total(LOOKUPS, { ...labels, result: 'miss' })).toBe(20);
    expect(await otel.total(LOOKUPS, { ...labels, result: 'hit' })).toBe(1);
    expect(await otel.total(LOOKUPS)).toBe(21);

    const spans = otel.spans();
    const fetches = spans.filter((span) => span.name === FETCH_SPAN);
    expect(fetches).toHaveLength(1);
    expect(fetches[0]!.attributes).toEqual({ ...labels, source: 'metadata', outcome: 'ok' });
    expect(fetches[0]!.parentSpanContext?.spanId).toBe(
      spans.find((span) => span.name === 'checkout')!.spanContext().spanId,
    );

    // Neither a token nor any part of one is in the metrics or the spans.
    const recorded = JSON.stringify([
      await otel.points(),
      spans.map(({ attributes, events }) => ({ attributes, events })),
    ]);
    const token = bearer(target.requests[0]!.headers)!;
    for (const part of token.split('.')) expect(recorded).not.toContain(part);
  });

  it('refresh-ahead: a lookup inside the refresh window is counted as such, with one background fetch', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    otel = startOpenTelemetry();
    const { client } = await caller();
    const start = Date.now();
    await client.get('/warm');
    vi.setSystemTime(start + (3600 - 200) * 1000); // inside the 300 s window
    await client.get('/during');
    await vi.waitFor(async () => expect(await otel!.total(FETCHES, { outcome: 'ok' })).toBe(2));
    await client.get('/after');
    expect(await otel.total(LOOKUPS, { result: 'miss' })).toBe(1);
    expect(await otel.total(LOOKUPS, { result: 'refresh_ahead' })).toBe(1);
    expect(await otel.total(LOOKUPS, { result: 'hit' })).toBe(1);
    expect(emu.requestCount(IDENTITY)).toBe(2);
  });

  it('a metadata failure at refresh: the cached token is served stale, the failure counted and logged once', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    otel = startOpenTelemetry();
    const { client, logger } = await caller({ tokenCache: { ...FAST, deadlineMs: 300 } });
    const start = Date.now();
    await client.get('/warm');
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    vi.setSystemTime(start + 3500_000);
    await client.get('/during');
    await vi.waitFor(async () => expect(await otel!.total(FETCHES, { outcome: 'error' })).toBe(1));
    await client.get('/stale-1');
    await client.get('/stale-2');

    expect(target.requests.map((request) => request.url)).toEqual(['/warm', '/during', '/stale-1', '/stale-2']);
    expect(new Set(target.requests.map((request) => bearer(request.headers))).size).toBe(1);
    expect(await otel.total(LOOKUPS, { result: 'refresh_ahead' })).toBe(1);
    expect(await otel.total(LOOKUPS, { result: 'stale_served' })).toBe(2);
    const failed = {
      service: 'orders',
      audience: target.url,
      source: 'metadata',
      outcome: 'error',
      reason: 'http_5xx',
    };
    expect(await otel.total(FETCHES, failed)).toBe(1);
    const span = otel.spans().find((each) => each.name === FETCH_SPAN && each.attributes.outcome === 'error')!;
    expect(span.attributes).toEqual(failed);
    expect(span.status).toMatchObject({ code: 2, message: 'http_5xx' });

    const lines = logger.lines.filter((line) => line.text.startsWith('Background ID-token refresh failed'));
    expect(lines.map((line) => line.level)).toEqual(['warn']);
    expect(lines[0]!.text).toContain(`service=orders audience=${target.url} source=metadata reason=http_5xx check=`);
    expect(lines[0]!.text).toContain('answered HTTP 503');
  });

  it('a 401 from the target: one replay with a fresh token, counted as a retry', async () => {
    otel = startOpenTelemetry();
    const { client } = await caller();
    let rejected = false;
    target.setHandler((_request, response) => {
      if (rejected) return false;
      rejected = true;
      response.writeHead(401).end();
      return true;
    });
    expect((await client.get('/x')).status).toBe(200);
    expect(target.requests).toHaveLength(2);
    expect(await otel.total(RETRIES, { service: 'orders', audience: target.url, cause: '401' })).toBe(1);
    expect(await otel.total(RETRIES)).toBe(1);
    expect(await otel.total(FETCHES, { outcome: 'ok' })).toBe(2);
  });

  class FailingProvider extends IdTokenProvider {
    getIdToken(): Promise<string> {
      return Promise.reject(new Error('no token today'));
    }
  }

  const FAILURES: [name: string, reason: string, source: string, breakIt: () => void][] = [
    [
      'the metadata server answers 503',
      'http_5xx',
      'metadata',
      () => emu.fail(IDENTITY, { mode: 'error', times: Infinity }),
    ],
    ['the metadata server hangs', 'timeout', 'metadata', () => emu.fail(IDENTITY, { mode: 'hang', times: Infinity })],
    [
      'the metadata server answers garbage',
      'invalid_response',
      'metadata',
      () => emu.fail(IDENTITY, { mode: 'garbage', times: Infinity }),
    ],
    [
      'nothing listens at GCE_METADATA_HOST',
      'unreachable',
      'metadata',
      () => void (process.env.GCE_METADATA_HOST = '127.0.0.1:9'),
    ],
    [
      'GOOGLE_APPLICATION_CREDENTIALS names no file',
      'credentials',
      'unknown',
      () => void (process.env.GOOGLE_APPLICATION_CREDENTIALS = join(root, 'no-such-key.json')),
    ],
    ['a custom provider fails', 'provider_error', 'custom', () => undefined],
  ];
  it.each(FAILURES)(
    '%s: the fetch fails with reason %s (source %s), one warning with what to check',
    async (_name, reason, source, breakIt) => {
      breakIt();
      otel = startOpenTelemetry();
      const { client, logger } = await caller({
        tokenCache: { ...FAST, timeoutMs: 100, deadlineMs: 300 },
        ...(source === 'custom' && { tokenProvider: new FailingProvider() }),
      });
      for (let i = 0; i < 3; i++) await expect(client.get('/x')).rejects.toThrow();
      expect(await otel.total(FETCHES, { service: 'orders', source, outcome: 'error', reason })).toBe(3);
      const lines = logger.lines.filter((line) => line.text.startsWith('ID-token fetch failed'));
      expect(lines.map((line) => line.level)).toEqual(['warn', 'debug', 'debug']);
      expect(lines[0]!.text).toMatch(new RegExp(`source=${source} reason=${reason} check="[^"]+" error=`));
    },
  );
});

describe('inbound metrics and span events', () => {
  it('counts decisions by outcome and reason, times verification (cached or not), and marks refusals on the span', async () => {
    otel = startOpenTelemetry();
    const { status } = await guard();
    const token = mint(emu, AUDIENCE);
    expect(await status('/guarded/me', token)).toBe(200);
    expect(await status('/guarded/me', token)).toBe(200); // from the verified-token cache
    expect(await status('/guarded/me', mint(emu, 'https://other.a.run.app'))).toBe(401);
    expect(await status('/guarded/me')).toBe(401);
    expect(await status('/guarded/special', mint(emu, AUDIENCE))).toBe(403);

    const labels = { mode: 'verify', audience: AUDIENCE };
    expect(await otel.total(DECISIONS, { ...labels, outcome: 'allowed' })).toBe(2);
    for (const reason of ['invalid_audience', 'missing_token', 'caller_not_allowed']) {
      expect(await otel.total(DECISIONS, { ...labels, outcome: 'rejected', reason }), reason).toBe(1);
    }
    expect(await otel.total(DECISIONS)).toBe(5);
    expect(await otel.total(VERIFY_DURATION, { cached: true })).toBe(1);
    expect(await otel.total(VERIFY_DURATION, { cached: false })).toBe(3);
    const points = await otel.points();
    expect(points.filter((point) => point.metric === DECISIONS).every((point) => !('caller' in point.attributes))).toBe(
      true,
    );
    const durations = points.filter((point) => point.metric === VERIFY_DURATION);
    expect(durations.map((point) => point.attributes)).toEqual([{ cached: false }, { cached: true }]);

    // Cache hits are all counted, and timed one in TIMED_LOOKUP_INTERVAL after the first.
    for (let i = 0; i < 2 * TIMED_LOOKUP_INTERVAL; i += 1) expect(await status('/guarded/me', token)).toBe(200);
    expect(await otel.total(DECISIONS, { ...labels, outcome: 'allowed' })).toBe(2 + 2 * TIMED_LOOKUP_INTERVAL);
    expect(await otel.total(VERIFY_DURATION, { cached: true })).toBe(3);
    expect(await otel.total(VERIFY_DURATION, { cached: false })).toBe(3);

    // Request spans end on the response's 'finish', which may come just after the client has its answer.
    const events = () =>
      otel!
        .spans()
        .flatMap(({ name, events }) => events.map(({ name: event, attributes }) => ({ name, event, attributes })));
    await vi.waitFor(() =>
      expect(events().filter(({ event }) => event === REJECTED_EVENT)).toEqual([
        {
          name: 'GET /guarded/me',
          event: REJECTED_EVENT,
          attributes: { ...labels, reason: 'invalid_audience', status: 401 },
        },
        {
          name: 'GET /guarded/me',
          event: REJECTED_EVENT,
          attributes: { ...labels, reason: 'missing_token', status: 401 },
        },
        {
          name: 'GET /guarded/special',
          event: REJECTED_EVENT,
          attributes: { ...labels, reason: 'caller_not_allowed', status: 403 },
        },
      ]),
    );
    expect(JSON.stringify([points, events()])).not.toContain(emu.serviceAccountEmail);
  });

  it('callerEmailAttribute: allowed decisions carry the caller, rejections never do', async () => {
    otel = startOpenTelemetry();
    const { status } = await guard({}, { telemetry: { callerEmailAttribute: true } });
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(200);
    expect(await status('/guarded/special', mint(emu, AUDIENCE))).toBe(403);
    expect(await otel.total(DECISIONS, { outcome: 'allowed', caller: emu.serviceAccountEmail })).toBe(1);
    const rejected = (await otel.points()).filter((point) => point.attributes.outcome === 'rejected');
    expect(rejected.map((point) => point.attributes)).toEqual([
      { mode: 'verify', audience: AUDIENCE, outcome: 'rejected', reason: 'caller_not_allowed' },
    ]);
  });

  it('an unknown kid refetches the signing keys: JWKS fetches by cause', async () => {
    otel = startOpenTelemetry();
    const cooldownMs = 200;
    const { status } = await guard({ keyRefetchCooldownMs: cooldownMs });
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(200);
    emu.rotateKeys();
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(200);
    expect(emu.requestCount(CERTS)).toBe(2);
    const labels = { outcome: 'ok', certs_url: emu.certsUrl };
    expect(await otel.total(JWKS_FETCHES, { ...labels, cause: 'initial' })).toBe(1);
    expect(await otel.total(JWKS_FETCHES, { ...labels, cause: 'unknown_kid' })).toBe(1);
    expect(await otel.total(JWKS_FETCHES)).toBe(2);
  });

  it('a JWKS failure: counted as an error, the next fetch as a retry, one warning with what to check', async () => {
    otel = startOpenTelemetry();
    const cooldownMs = 200;
    const { status, logger } = await guard({ keyRefetchCooldownMs: cooldownMs });
    emu.fail(CERTS, { mode: 'error', times: 1 });
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 50));
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(200);
    expect(await otel.total(JWKS_FETCHES, { outcome: 'error', cause: 'initial' })).toBe(1);
    expect(await otel.total(JWKS_FETCHES, { outcome: 'ok', cause: 'retry' })).toBe(1);
    expect(await otel.total(DECISIONS, { outcome: 'rejected', reason: 'keys_unavailable' })).toBe(1);
    const lines = logger.lines.filter((line) => line.text.startsWith('Fetching signing keys'));
    expect(lines.map((line) => line.level)).toEqual(['warn']);
    expect(lines[0]!.text).toContain(`certs_url=${emu.certsUrl} reason=http_5xx keys_cached=0 check=`);
  });
});

describe('without OpenTelemetry', () => {
  it('no provider registered at boot: everything works and nothing is recorded, even once one is registered', async () => {
    const { client } = await caller();
    const { status } = await guard();
    const token = mint(emu, AUDIENCE);
    expect(await status('/guarded/me', token)).toBe(200);
    expect(await status('/guarded/me')).toBe(401);
    await client.get('/x');
    otel = startOpenTelemetry();
    expect(await status('/guarded/me', token)).toBe(200);
    await client.get('/y');
    expect(await otel.points()).toEqual([]);
    expect(target.requests).toHaveLength(2);
  });

  it('resolves no instruments without a MeterProvider at boot, so that the guard does not even read the clock', async () => {
    const labels = { mode: 'verify', audiences: [AUDIENCE] };
    const create = (telemetry?: { enabled?: boolean }) =>
      CloudRunAuthTelemetry.create(resolveTelemetryOptions(telemetry));
    const withoutProvider = await create();
    expect(withoutProvider.metrics).toBeUndefined();
    expect(withoutProvider.tracing).toBeDefined(); // the API's tracer is a proxy: spans once a provider is registered
    expect(new InboundTelemetry(withoutProvider, labels).start()).toBeUndefined();
    otel = startOpenTelemetry();
    const withProvider = await create();
    expect(withProvider.metrics).toBeDefined();
    expect(new InboundTelemetry(withProvider, labels).start()).toEqual(expect.any(Number));
    withProvider.onApplicationShutdown();
    const disabled = await create({ enabled: false });
    expect([disabled.metrics, disabled.tracing]).toEqual([undefined, undefined]);
  });

  it('telemetry: { enabled: false } records nothing, with providers registered', async () => {
    otel = startOpenTelemetry();
    const { client } = await caller({ telemetry: { enabled: false } });
    const { status } = await guard({}, { telemetry: { enabled: false } });
    await trace.getTracer('test').startActiveSpan('work', async (span) => {
      await client.get('/x');
      span.end();
    });
    expect(await status('/guarded/me', mint(emu, AUDIENCE))).toBe(200);
    expect(await status('/guarded/me')).toBe(401);
    expect(await otel.points()).toEqual([]);
    expect(otel.spans().filter((span) => span.name === FETCH_SPAN)).toEqual([]);
    expect(otel.spans().flatMap((span) => span.events)).toEqual([]);
  });

  it.each([
    [{ enabled: 'yes' }, 'telemetry.enabled'],
    [{ callerEmailAttribute: 1 }, 'telemetry.callerEmailAttribute'],
    [{ metrics: true }, 'telemetry.metrics'],
    ['on', 'telemetry'],
  ])('rejects telemetry %j at boot, naming %s', async (telemetry, field) => {
    const error = await createCallerApp({ telemetry } as unknown as CloudRunAuthModuleOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect((error as CloudRunAuthConfigError).field).toBe(field);
  });
});

describe('OperatorLog', () => {
  it('logs a cause at warn once per interval, the repeats at debug, and counts them in the next warning', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const lines: string[] = [];
    const log = new OperatorLog(
      { warn: (m) => lines.push(`warn ${m}`), debug: (m) => lines.push(`debug ${m}`) },
      60_000,
    );
    const cause = { service: 'orders', reason: 'timeout' };
    expect(log.report('Fetch failed', cause, { check: 'the network', error: 'timed out after 2000 ms' })).toBe(true);
    expect(log.report('Fetch failed', cause)).toBe(false);
    expect(log.report('Fetch failed', cause)).toBe(false);
    expect(log.report('Fetch failed', { ...cause, reason: 'http_5xx' })).toBe(true);
    vi.setSystemTime(Date.now() + 60_000);
    expect(log.report('Fetch failed', cause)).toBe(true);
    expect(lines).toEqual([
      'warn Fetch failed: service=orders reason=timeout check="the network" error="timed out after 2000 ms" (repeats in the next 60 s at debug)',
      'debug Fetch failed: service=orders reason=timeout',
      'debug Fetch failed: service=orders reason=timeout',
      'warn Fetch failed: service=orders reason=http_5xx (repeats in the next 60 s at debug)',
      'warn Fetch failed: service=orders reason=timeout repeats=2 (repeats in the next 60 s at debug)',
    ]);
  });
});
