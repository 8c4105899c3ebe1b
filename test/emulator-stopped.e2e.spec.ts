import type { INestApplication } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { IdTokenFetchError } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { localEmulatorHint } from '../lib/shared/runtime/local-emulator.hint.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';
import { restoreEnvAfterEach } from './utils/env.js';
import { CapturingLogger, startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { startTarget, type Target } from './utils/target.js';
import { mint } from './utils/tokens.js';

/**
 * A developer's machine with the emulator stopped: `GCE_METADATA_HOST` or `certsUrl` name a
 * loopback port nothing listens on. Off Cloud Run a refused connection is not retried and the
 * error says to start the emulator; on Cloud Run (`K_SERVICE` set) the Cloud Run advice stays.
 */

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const EMULATOR_ADVICE = 'is the emulator running? (`npx cloud-run-auth-emulator`)';
const CLOUD_RUN_ADVICE = 'on Cloud Run, GCE and GKE it is always there';

let live: Emulator;
/** `host:port` and URL of an emulator that was started, then stopped: a closed loopback port. */
let stopped: { metadataHost: string; certsUrl: string };
let target: Target;
let app: INestApplication | undefined;
let guarded: GuardedApp | undefined;

restoreEnvAfterEach(['GCE_METADATA_HOST', 'K_SERVICE', 'CLOUD_RUN_JOB']);
beforeAll(async () => {
  live = await startEmulator();
  const emu = await startEmulator();
  stopped = { metadataHost: emu.metadataHost, certsUrl: emu.certsUrl };
  await emu.close();
});
afterAll(() => live?.close());
beforeEach(async () => {
  delete process.env.K_SERVICE;
  delete process.env.CLOUD_RUN_JOB;
  target = await startTarget();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await app?.close();
  await guarded?.close();
  app = guarded = undefined;
  await target.close();
});

/** How many requests to a metadata server `fetch()` was asked for: one per attempt. */
const metadataRequests = (spy: MockInstance<typeof fetch>) =>
  spy.mock.calls.filter(([url]) => typeof url === 'string' && url.includes('/computeMetadata/v1/')).length;

/** A call through a ServiceClient with the default token cache: its error, its duration, and the metadata requests tried. */
async function callOrders(metadataHost: string) {
  process.env.GCE_METADATA_HOST = metadataHost;
  const logger = new CapturingLogger();
  app = await createCallerApp({ services: [{ name: 'orders', url: target.url, audience: AUDIENCE }] }, logger);
  const fetchSpy = vi.spyOn(globalThis, 'fetch');
  const started = performance.now();
  const error = await clientOf(app, 'orders')
    .axiosRef.get('/x')
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  const ms = performance.now() - started;
  const attempts = metadataRequests(fetchSpy);
  const warning = logger.lines.find((line) => line.text.startsWith('ID-token fetch failed'));
  return { error: error as IdTokenFetchError, ms, attempts, warning: warning?.text };
}

describe('outbound, GCE_METADATA_HOST at a stopped emulator', () => {
  it('fails after one attempt, in well under a second, saying nothing listens there and how to start the emulator', async () => {
    const { error, ms, attempts, warning } = await callOrders(stopped.metadataHost);
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect(attempts).toBe(1);
    expect(ms).toBeLessThan(1000);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('after 1 attempt(s)');
    expect(error.message).toContain(`metadata server at ${stopped.metadataHost} unreachable (ECONNREFUSED)`);
    expect(error.message).toContain(`nothing is listening at ${stopped.metadataHost} — ${EMULATOR_ADVICE}`);
    expect(error.message).not.toContain('gcloud');
    expect(error.message).not.toContain(CLOUD_RUN_ADVICE);
    // The operator line says the same, under its usual reason.
    expect(warning).toContain('reason=unreachable');
    expect(warning).toContain(`check="nothing is listening at ${stopped.metadataHost} — ${EMULATOR_ADVICE}"`);
    expect(target.requests).toHaveLength(0);
  });

  it('names the address that refused when the host is localhost', async () => {
    const port = stopped.metadataHost.split(':')[1];
    const { error, attempts } = await callOrders(`http://localhost:${port}`);
    expect(attempts).toBe(1);
    expect(error.message).toMatch(
      new RegExp(`nothing is listening at (127\\.0\\.0\\.1|\\[::1\\]):${port} — is the emulator running\\?`),
    );
  });

  it.each(['K_SERVICE', 'CLOUD_RUN_JOB'])(
    'on Cloud Run (%s set) keeps the Cloud Run advice and retries until the deadline',
    async (variable) => {
      process.env[variable] = 'orders';
      process.env.GCE_METADATA_HOST = stopped.metadataHost;
      const logger = new CapturingLogger();
      app = await createCallerApp(
        {
          services: [{ name: 'orders', url: target.url, audience: AUDIENCE }],
          tokenCache: { deadlineMs: 300, initialBackoffMs: 10, maxBackoffMs: 20 },
        },
        logger,
      );
      const fetchSpy = vi.spyOn(globalThis, 'fetch');
      const error = (await clientOf(app, 'orders')
        .axiosRef.get('/x')
        .catch((e: unknown) => e)) as IdTokenFetchError;
      expect(error).toBeInstanceOf(IdTokenFetchError);
      expect(metadataRequests(fetchSpy)).toBeGreaterThan(1);
      expect(error.message).toContain(CLOUD_RUN_ADVICE);
      expect(error.message).not.toContain('nothing is listening');
      const warning = logger.lines.find((line) => line.text.startsWith('ID-token fetch failed'))!.text;
      expect(warning).toContain('check="nothing answered: the metadata server');
    },
  );
});

describe('inbound, certsUrl at a stopped emulator', () => {
  async function guardedCall() {
    guarded = await startGuardedApp('express', {
      inbound: { audience: AUDIENCE, allowAnyCaller: true, certsUrl: stopped.certsUrl },
    });
    const { status } = await guarded.call('/guarded/me', { authorization: `Bearer ${mint(live, AUDIENCE)}` });
    const line = guarded.logger.lines.find((l) => l.text.startsWith('Fetching signing keys'));
    return { status, line: line?.text };
  }

  it('answers 503 and tells the operator that nothing listens there and how to start the emulator', async () => {
    const { status, line } = await guardedCall();
    expect(status).toBe(503);
    const { host } = new URL(stopped.certsUrl);
    expect(line).toContain('reason=unreachable');
    expect(line).toContain(`check="nothing is listening at ${host} — ${EMULATOR_ADVICE}"`);
    expect(line).not.toContain('VPC connector');
  });

  it('on Cloud Run (K_SERVICE set) keeps the egress advice', async () => {
    process.env.K_SERVICE = 'orders';
    const { status, line } = await guardedCall();
    expect(status).toBe(503);
    expect(line).toContain('VPC connector');
    expect(line).not.toContain('nothing is listening');
  });
});

describe('localEmulatorHint', () => {
  const refused = (address: string, port = 8090) => ({ cause: { code: 'ECONNREFUSED', address, port } });

  it.each([
    ['127.0.0.1', '127.0.0.1:8090'],
    ['127.0.0.2', '127.0.0.2:8090'],
    ['127.255.255.254', '127.255.255.254:8090'],
    ['::1', '[::1]:8090'],
    ['::ffff:127.0.0.1', '[::ffff:127.0.0.1]:8090'],
  ])('a refused connection to loopback %s names %s', (address, where) => {
    expect(localEmulatorHint(new TypeError('fetch failed', refused(address)), {})).toBe(
      `nothing is listening at ${where} — ${EMULATOR_ADVICE}`,
    );
  });

  it('finds the refusal deep in the causes, and among the addresses tried (localhost: ::1 and 127.0.0.1)', () => {
    const both = Object.assign(new AggregateError([refused('::1').cause, refused('127.0.0.1').cause]), {
      code: 'ECONNREFUSED',
    });
    expect(localEmulatorHint({ cause: { cause: both } }, {})).toBe(
      `nothing is listening at [::1]:8090 — ${EMULATOR_ADVICE}`,
    );
  });

  it.each([
    ['a host on a network', refused('10.0.0.7')],
    ['the metadata server address', refused('169.254.169.254', 80)],
    ['another network error to loopback', { cause: { code: 'ECONNRESET', address: '127.0.0.1', port: 8090 } }],
    ['a port fetch() refuses to use', new TypeError('fetch failed', { cause: new Error('bad port') })],
    ['no error', undefined],
  ])('is undefined for %s', (_what, error) => {
    expect(localEmulatorHint(error, {})).toBeUndefined();
  });

  it.each(['K_SERVICE', 'CLOUD_RUN_JOB'])('is undefined on Cloud Run (%s set)', (variable) => {
    expect(localEmulatorHint(refused('127.0.0.1'), { [variable]: 'x' })).toBeUndefined();
  });
});
