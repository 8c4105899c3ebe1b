import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Module, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CloudRunAuthConfigError,
  CloudRunAuthModule,
  getServiceClientToken,
  type CloudRunAuthModuleOptions,
  type ServiceClient,
} from '../lib/index.js';
import type { Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { bearer, payloadOf, type Target } from './utils/target.js';
import { useLoopbackStack } from './utils/loopback-stack.js';

/**
 * `allowInsecureHttp`: plain http to a host on a local network (docker compose's
 * `http://orders:8080`). The target listens on 127.0.0.2, which Linux routes to this machine but
 * which is not one of the library's loopback names (localhost, 127.0.0.1, ::1): to the library
 * it is a host on a network, as `orders` would be.
 */

const IDENTITY = 'service-accounts/default/identity';
const CLOUD_RUN_VARIABLES = ['K_SERVICE', 'CLOUD_RUN_JOB'];

let emu: Emulator;
let target: Target;
let app: INestApplication | undefined;
let logger: CapturingLogger;

// 127.0.0.2 is loopback to Linux but not to the library: a stand-in for a host on a network.
useLoopbackStack((stack) => ({ emu, target } = stack), '127.0.0.2');
beforeEach(() => {
  logger = new CapturingLogger();
});
afterEach(async () => {
  for (const name of CLOUD_RUN_VARIABLES) delete process.env[name];
  await app?.close();
  app = undefined;
});

async function boot(imports: NonNullable<ModuleMetadata['imports']>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports }).setLogger(logger).compile();
  app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}
const bootRoot = (options: CloudRunAuthModuleOptions) => boot([CloudRunAuthModule.forRoot(options)]);
const bootError = (options: CloudRunAuthModuleOptions) =>
  bootRoot(options).then(
    () => expect.fail('boot should have failed'),
    (error: unknown) => error as CloudRunAuthConfigError,
  );
const warnings = () => logger.lines.filter((line) => line.level === 'warn').map((line) => line.text);

describe('plain http on a local network (allowInsecureHttp)', () => {
  it('is refused without the option, with a message that says how to opt in', async () => {
    for (const url of ['http://orders.internal:8080', target.url]) {
      const error = await bootError({ services: [{ name: 'orders', url }] });
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect(error.field).toBe('services[orders].url');
      expect(error.message).toMatch(
        /plain http is only allowed to loopback .* got host (orders\.internal|127\.0\.0\.2)/,
      );
      expect(error.message).toContain('set allowInsecureHttp: true on this service');
    }
    expect(target.requests).toHaveLength(0);
  });

  it('with the option, boots, sends the token to that origin, and warns once at boot per such service', async () => {
    await bootRoot({
      services: [
        { name: 'orders', url: `${target.url}/api`, allowInsecureHttp: true },
        { name: 'metrics', url: 'http://metrics.internal:9090', authenticate: false, allowInsecureHttp: true },
        // The option changes nothing where it is not needed.
        { name: 'billing', url: 'https://billing.example', allowInsecureHttp: true },
        { name: 'cache', url: 'http://127.0.0.1:6380', allowInsecureHttp: true },
        { name: 'search', url: 'https://search.example' },
      ],
    });
    expect(warnings()).toEqual([
      expect.stringMatching(
        /^services\[orders\]\.allowInsecureHttp: requests to http:\/\/127\.0\.0\.2:\d+ and their ID tokens travel in clear text/,
      ),
      expect.stringMatching(
        /^services\[metrics\]\.allowInsecureHttp: requests to http:\/\/metrics\.internal:9090 travel in clear text/,
      ),
    ]);
    const client = (name: string) => app!.get<ServiceClient>(getServiceClientToken(name));
    expect(
      ['orders', 'metrics', 'billing', 'cache', 'search'].map((name) => client(name).definition.insecureHttp),
    ).toEqual([true, true, false, false, false]);
    const { status } = await client('orders').axiosRef.get('/orders/1');
    expect(status).toBe(200);
    expect(target.requests.map((request) => request.url)).toEqual(['/api/orders/1']);
    const token = bearer(target.requests[0]!.headers)!;
    expect(payloadOf(token)).toMatchObject({ aud: target.url, email: emu.serviceAccountEmail });
    expect(emu.requestCount(IDENTITY)).toBe(1);
    expect(JSON.stringify(logger.lines)).not.toContain(token);
  });

  it('is per service: another plain-http service without it is still refused', async () => {
    const error = await bootError({
      services: [
        { name: 'orders', url: target.url, allowInsecureHttp: true },
        { name: 'billing', url: 'http://billing.internal:8080' },
      ],
    });
    expect(error.field).toBe('services[billing].url');
  });

  it('works for the services of forFeature() too', async () => {
    @Module({
      imports: [CloudRunAuthModule.forFeature([{ name: 'orders', url: target.url, allowInsecureHttp: true }])],
      exports: [CloudRunAuthModule],
    })
    class OrdersFeatureModule {}
    await boot([CloudRunAuthModule.forRoot(), OrdersFeatureModule]);
    expect(warnings()).toEqual([expect.stringContaining('services[orders].allowInsecureHttp: requests to')]);
    await app!.get<ServiceClient>(getServiceClientToken('orders'), { strict: false }).axiosRef.get('/x');
    expect(bearer(target.requests[0]!.headers)).toMatch(/^ey/);
  });

  it.each(CLOUD_RUN_VARIABLES)('is refused at boot on Cloud Run (%s set), naming the field', async (variable) => {
    process.env[variable] = 'orders-caller';
    const error = await bootError({ services: [{ name: 'orders', url: target.url, allowInsecureHttp: true }] });
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.field).toBe('services[orders].allowInsecureHttp');
    expect(error.message).toContain(`services[orders].allowInsecureHttp: is refused on Cloud Run (${variable} is set)`);
    // Also where it would change nothing: the option has no place in a deployed configuration.
    const https = await bootError({
      services: [{ name: 'billing', url: 'https://billing.example', allowInsecureHttp: true }],
    });
    expect(https.field).toBe('services[billing].allowInsecureHttp');
    // Without the option, Cloud Run boots as before.
    await bootRoot({ services: [{ name: 'billing', url: 'https://billing.example' }] });
    expect(warnings()).toEqual([]);
  });

  it('must be a boolean', async () => {
    const error = await bootError({
      services: [{ name: 'orders', url: target.url, allowInsecureHttp: 'yes' as never }],
    });
    expect(error.field).toBe('services[orders].allowInsecureHttp');
    expect(error.problem).toBe('must be a boolean');
  });

  it('leaves the credential endpoints their rule', async () => {
    const error = await bootError({
      services: [
        {
          name: 'orders',
          url: target.url,
          allowInsecureHttp: true,
          credentials: {
            impersonate: 'orders-caller@proj.iam.gserviceaccount.com',
            iamCredentialsUrl: emu.url.replace('127.0.0.1', '127.0.0.2'),
          },
        },
      ],
    });
    expect(error.field).toBe('services[orders].credentials.iamCredentialsUrl');
    expect(error.message).toMatch(/plain http is only allowed to loopback/);
    expect(error.message).not.toContain('allowInsecureHttp');
  });
});
