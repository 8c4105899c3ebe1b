import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudRunAuthModule, type CloudRunAuthModuleOptions } from '../lib/index.js';
import { CloudRunAuthHealthIndicator } from '../lib/terminus/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { useLoopbackStack } from './utils/loopback-stack.js';
import type { Target } from './utils/target.js';

const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity';
const CERTS = '/oauth2/v3/certs';
const IAP_CERTS = '/iap/verify/public_key-jwk';
const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/orders';
const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const BILLING = 'https://billing-abc123-ew.a.run.app';
/** The probe's timeout: generous, so that a busy machine cannot fail a healthy probe; short where a test waits it out. */
let probeTimeoutMs = 5000;

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly cloudRunAuth: CloudRunAuthHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.cloudRunAuth.isHealthy('cloud-run-auth', { timeoutMs: probeTimeoutMs })]);
  }
}

let emu: Emulator;
let target: Target;
let app: INestApplication | undefined;

useLoopbackStack((stack) => ({ emu, target } = stack));
afterEach(async () => {
  await app?.close();
  app = undefined;
  probeTimeoutMs = 5000;
});

/** A Nest app with TerminusModule, the module as configured and a health route; returns a probe. */
async function start(options: CloudRunAuthModuleOptions) {
  const moduleRef = await Test.createTestingModule({
    imports: [TerminusModule, CloudRunAuthModule.forRoot(options)],
    controllers: [HealthController],
    providers: [CloudRunAuthHealthIndicator],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  return async () => {
    const response = await fetch(`${url}/health`);
    const text = await response.text();
    // Whatever the outcome, no probe answer carries a token.
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    return { status: response.status, body: JSON.parse(text) as Record<string, Record<string, unknown>> };
  };
}

const services = () => [
  { name: 'orders', url: target.url, audience: AUDIENCE },
  { name: 'billing', url: target.url, audience: BILLING },
  { name: 'local', url: target.url, authenticate: false },
];

describe('CloudRunAuthHealthIndicator with @nestjs/terminus', () => {
  it('is up with the emulator up, and probes reuse the cached tokens and keys: no metadata call per probe', async () => {
    const probe = await start({
      services: services(),
      inbound: { audience: AUDIENCE, allowAnyCaller: true, certsUrl: emu.certsUrl },
    });
    for (let i = 0; i < 5; i++) {
      const { status, body } = await probe();
      expect(status).toBe(200);
      expect(body.status).toBe('ok');
      expect(body.info!['cloud-run-auth']).toEqual({
        status: 'up',
        services: {
          orders: { status: 'up', audience: AUDIENCE, validForSeconds: expect.any(Number) },
          billing: { status: 'up', audience: BILLING, validForSeconds: expect.any(Number) },
        },
        keys: { status: 'up' },
      });
    }
    expect(emu.requestCount(IDENTITY)).toBe(2); // one token per audience, for all five probes
    expect(emu.requestCount(CERTS)).toBe(1);
    // The token is valid: a failing metadata server changes nothing, and is not even asked.
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    expect((await probe()).status).toBe(200);
    expect(emu.requestCount(IDENTITY)).toBe(2);
  });

  it('is down with the emulator down: 503, naming each service and its error, and the keys', async () => {
    const down = await startEmulator();
    process.env.GCE_METADATA_HOST = down.metadataHost;
    const inbound = { audience: AUDIENCE, allowAnyCaller: true, certsUrl: down.certsUrl };
    const probe = await start({ services: services(), inbound, tokenCache: { deadlineMs: 200, initialBackoffMs: 10 } });
    await down.close();
    const { status, body } = await probe();
    expect(status).toBe(503);
    expect(body.status).toBe('error');
    const health = body.error!['cloud-run-auth'] as {
      status: string;
      services: Record<string, { status: string; audience: string; error: string }>;
      keys: { status: string; error: string };
    };
    expect(health.status).toBe('down');
    expect(Object.keys(health.services)).toEqual(['orders', 'billing']);
    for (const [name, audience] of [
      ['orders', AUDIENCE],
      ['billing', BILLING],
    ] as const) {
      expect(health.services[name]).toEqual({ status: 'down', audience, error: expect.any(String) });
      expect(health.services[name]!.error).toContain(`metadata server at ${down.metadataHost} unreachable`);
    }
    expect(health.keys).toEqual({ status: 'down', error: `no signing keys could be fetched from ${down.certsUrl}` });
  });

  it("checks IAP's keys under iapKeys with inbound.iap, and not Google's on a service that takes no ID token", async () => {
    const iap = { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl };
    const probe = await start({ inbound: { iap, allowAnyCaller: true } });
    for (let i = 0; i < 3; i++) {
      const { status, body } = await probe();
      expect(status).toBe(200);
      expect(body.info!['cloud-run-auth']).toEqual({ status: 'up', services: {}, iapKeys: { status: 'up' } });
    }
    expect(emu.requestCount(IAP_CERTS)).toBe(1);
    expect(emu.requestCount(CERTS)).toBe(0);
    await app!.close();

    // Both sources: both key sets; IAP's endpoint down, so only iapKeys is down.
    const down = await startEmulator();
    const inbound = {
      audience: AUDIENCE,
      allowAnyCaller: true,
      certsUrl: emu.certsUrl,
      iap: { audience: IAP_AUDIENCE, certsUrl: down.iapCertsUrl },
    };
    await down.close();
    const both = await start({ inbound });
    const { status, body } = await both();
    expect(status).toBe(503);
    expect(body.error!['cloud-run-auth']).toEqual({
      status: 'down',
      services: {},
      keys: { status: 'up' },
      iapKeys: { status: 'down', error: `no signing keys could be fetched from ${down.iapCertsUrl}` },
    });
  });

  it('answers within its timeout while the metadata server hangs, and the next probe joins the same fetch', async () => {
    emu.fail(IDENTITY, { mode: 'hang', times: Infinity });
    probeTimeoutMs = 300;
    const probe = await start({ services: [{ name: 'orders', url: target.url }] });
    const first = await probe();
    expect(first.status).toBe(503);
    expect(first.body.error!['cloud-run-auth']).toEqual({
      status: 'down',
      services: {
        orders: {
          status: 'down',
          audience: target.url,
          error: `no ID token for audience ${target.url} within ${probeTimeoutMs} ms`,
        },
      },
    });
    expect((await probe()).status).toBe(503);
    expect(emu.requestCount(IDENTITY)).toBe(1); // the one fetch still in flight (2 s attempt timeout)
    emu.reset();
  });

  it('is up without outbound services or inbound options (nothing to check)', async () => {
    const probe = await start({});
    const { status, body } = await probe();
    expect(status).toBe(200);
    expect(body.info!['cloud-run-auth']).toEqual({ status: 'up', services: {} });
    expect(emu.requestCount()).toBe(0);
  });
});
