import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { isAlive, isListening, run, runScript, type RunningScript } from './utils/child-process.js';

/** The part of orders' answer these tests read. */
interface OrderBody {
  caller: { email: string; signatureVerified: boolean };
}

/**
 * The sample app as built by `nest build` (sample-app/dist), run the way `npm start` runs it:
 * real child processes on 127.0.0.1, real HTTP, real RS256 tokens from the emulator.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(root, 'sample-app/dist/main.js');
const DEMO = join(root, 'sample-app/dist/demo/demo.js');

type DemoModule = typeof import('../sample-app/dist/demo/demo.js');
let demoModule: DemoModule;

beforeAll(async () => {
  if (!existsSync(MAIN) || !existsSync(DEMO)) {
    throw new Error('sample-app/dist is missing: run `npm run build` first (`npm test` does it via pretest).');
  }
  demoModule = await import('../sample-app/dist/demo/demo.js');
});

// Child processes start slowly on a loaded machine; their own waits are up to 30 s.
describe('local demo (the code path of `npm start`)', { timeout: 60_000 }, () => {
  let demo: Awaited<ReturnType<DemoModule['startDemo']>> | undefined;
  afterEach(async () => {
    await demo?.close();
    demo = undefined;
  });

  it('the gateway gets 200 with its own verified identity; no token, a forged token and another account are refused', async () => {
    demo = await demoModule.startDemo({ ports: { gateway: 0, orders: 0, emulator: 0 } });
    expect(demo.gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.orders.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const checks = await demoModule.runScenario(demo);
    const byName = Object.fromEntries(checks.map((check) => [check.name, check]));
    expect(checks.map((check) => [check.name, check.status, check.passed])).toEqual([
      ['through-gateway', 200, true],
      ['no-token', 401, true],
      ['forged-token', 401, true],
      ['other-account', 403, true],
    ]);
    expect(byName['through-gateway']!.body).toMatchObject({
      via: 'gateway',
      order: { id: '1001' },
      caller: {
        email: 'gateway@demo-project.iam.gserviceaccount.com',
        audience: demo.orders.url,
        issuer: 'https://accounts.google.com',
        signatureVerified: true,
      },
    });
    expect(byName['no-token']!.wwwAuthenticate).toBe('Bearer');
    expect(byName['forged-token']!.wwwAuthenticate).toBe('Bearer error="invalid_token"');
    // The gateway really fetched its token from the emulator's metadata server.
    expect(demo.emulator.requestCount('service-accounts/default/identity')).toBeGreaterThanOrEqual(1);

    // The same, checked independently of the scenario code.
    const direct = await fetch(`${demo.gateway.url}/orders/1002`);
    expect(direct.status).toBe(200);
    expect(((await direct.json()) as OrderBody).caller.email).toBe(demo.gatewayAccount);
    const whoami = await (await fetch(`${demo.gateway.url}/whoami`)).json();
    expect(whoami).toMatchObject({
      service: 'gateway',
      email: demo.gatewayAccount,
      metadataHost: demo.emulator.metadataHost,
    });
    expect((await fetch(`${demo.orders.url}/health`)).status).toBe(200);
    expect((await fetch(`${demo.gateway.url}/orders/9999`)).status).toBe(404);

    const pids = [demo.gateway.pid, demo.orders.pid];
    const urls = [demo.gateway.url, demo.orders.url, demo.emulator.url];
    await demo.close();
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} is gone`).toBe(false);
    for (const url of urls) expect(await isListening(url), `${url} is closed`).toBe(false);
  });
});

// Child processes start slowly on a loaded machine; their own waits are up to 30 s.
describe(
  '`npm start` entry point (sample-app/dist/main.js) without SAMPLE_SERVICE or K_SERVICE',
  { timeout: 60_000 },
  () => {
    let running: RunningScript | undefined;
    afterEach(async () => {
      await running?.kill();
      running = undefined;
    });

    it('prints the outcomes in plain words and the curl lines, then stops everything on Ctrl-C', async () => {
      running = runScript(MAIN, [], { DEMO_GATEWAY_PORT: '0', DEMO_ORDERS_PORT: '0', DEMO_EMULATOR_PORT: '0' });
      await running.waitForStdout(/Ctrl-C stops the emulator and both services\./, 30_000);
      const out = running.stdout();
      const gatewayUrl = out.match(/ gateway\s+(http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      const ordersUrl = out.match(/ orders\s+(http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      const emulatorUrl = out.match(/ emulator\s+(http:\/\/127\.0\.0\.1:\d+)/)![1]!;
      expect(out).toMatch(/-> 200 OK, as expected: .*caller gateway@demo-project\.iam\.gserviceaccount\.com/);
      expect(out.match(/-> 401 Unauthorized, as expected/g)).toHaveLength(2);
      expect(out).toMatch(/-> 403 Forbidden, as expected/);
      expect(out).not.toContain('UNEXPECTED');
      expect(out).toContain(`curl ${gatewayUrl}/orders/1001`);

      // Still up: the printed curl line works.
      const res = await fetch(`${gatewayUrl}/orders/1001`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as OrderBody).caller.email).toBe('gateway@demo-project.iam.gserviceaccount.com');

      running.child.kill('SIGINT');
      expect(await running.exited).toEqual({ code: 0, signal: null });
      expect(running.stdout()).toContain('Stopped (SIGINT)');
      for (const url of [gatewayUrl, ordersUrl, emulatorUrl])
        expect(await isListening(url), `${url} is closed`).toBe(false);
    });

    it('`npm start` in a terminal: Ctrl-C reaches the whole process group and everything stops', async () => {
      running = run(
        'npm',
        ['start'],
        { DEMO_GATEWAY_PORT: '0', DEMO_ORDERS_PORT: '0', DEMO_EMULATOR_PORT: '0' },
        { detached: true, cwd: root },
      );
      await running.waitForStdout(/Ctrl-C stops the emulator and both services\./, 30_000);
      const urls = [...running.stdout().matchAll(/ (?:gateway|orders|emulator)\s+(http:\/\/127\.0\.0\.1:\d+)/g)].map(
        (m) => m[1]!,
      );
      expect(urls).toHaveLength(3);
      const group = -running.child.pid!;
      process.kill(group, 'SIGINT');
      // npm itself ends on the SIGINT (as in a shell); the demo process finishes its clean-up and then
      // closes the output it inherited from npm.
      await running.outputClosed;
      expect(running.stdout()).toMatch(/Stopped \(SIGINT\): emulator, gateway and orders are shut down\./);
      expect(running.stderr()).not.toContain('unexpectedly');
      for (const url of urls) expect(await isListening(url), `${url} is closed`).toBe(false);
      // Closing the output is not exiting: until npm is reaped, and the demo's processes have finished
      // exiting, signal 0 still reaches the group. Everything must be gone within a few seconds.
      await running.exited;
      await vi.waitFor(() => expect(isAlive(group), 'no process of the group is left').toBe(false), {
        timeout: 5000,
        interval: 50,
      });
    });

    it('names the variable to change when a fixed port is taken', async () => {
      const emu = await startEmulator();
      try {
        const port = new URL(emu.url).port;
        running = runScript(MAIN, [], { DEMO_GATEWAY_PORT: '0', DEMO_ORDERS_PORT: port, DEMO_EMULATOR_PORT: '0' });
        expect(await running.exited).toEqual({ code: 1, signal: null });
        expect(running.stderr()).toContain(`port ${port} on 127.0.0.1 (for orders) is already in use`);
        expect(running.stderr()).toContain('DEMO_ORDERS_PORT=<port> npm start');
      } finally {
        await emu.close();
      }
    });
  },
);

// Child processes start slowly on a loaded machine; their own waits are up to 30 s.
describe('one service, configured only through environment variables (as on Cloud Run)', { timeout: 60_000 }, () => {
  let emu: Emulator;
  let running: RunningScript | undefined;
  afterEach(async () => {
    await running?.kill();
    running = undefined;
    await emu?.close();
  });

  /** Starts one service from dist/main.js and waits for the address it reports over IPC. */
  async function startService(env: NodeJS.ProcessEnv): Promise<string> {
    running = runScript(MAIN, [], { HOST: '127.0.0.1', PORT: '0', ...env }, { ipc: true });
    const script = running;
    return new Promise((resolve, reject) => {
      script.child.on('message', (message: { type?: string; url?: string }) => {
        if (message.type === 'listening') resolve(message.url!);
      });
      void script.exited.then(() =>
        reject(new Error(`exited before listening:\n${script.stdout()}\n${script.stderr()}`)),
      );
    });
  }

  it.each([
    ['verify', 401, undefined],
    ['cloud-run-iam', 200, false],
  ] as const)(
    'INBOUND_MODE=%s: a token whose signature Cloud Run removed gets %i',
    async (mode, status, signatureVerified) => {
      emu = await startEmulator({ serviceAccountEmail: 'gateway@p.iam.gserviceaccount.com' });
      const audience = 'https://orders-123.europe-west1.run.app';
      const url = await startService({
        SAMPLE_SERVICE: 'orders',
        ORDERS_AUDIENCE: audience,
        ALLOWED_CALLERS: 'gateway@p.iam.gserviceaccount.com',
        INBOUND_MODE: mode,
        CERTS_URL: emu.certsUrl,
      });
      const stripped = emu.mintIdToken({ aud: audience }, { stripSignature: true });
      const res = await fetch(`${url}/orders/1001`, { headers: { authorization: `Bearer ${stripped}` } });
      expect(res.status).toBe(status);
      if (signatureVerified !== undefined)
        expect(((await res.json()) as OrderBody).caller.signatureVerified).toBe(signatureVerified);
      // A signed token of the allowed caller is accepted in both modes; the audience must match.
      const signed = await fetch(`${url}/orders/1001`, {
        headers: { authorization: `Bearer ${emu.mintIdToken({ aud: audience })}` },
      });
      expect(signed.status).toBe(200);
      const wrongAudience = await fetch(`${url}/orders/1001`, {
        headers: { authorization: `Bearer ${emu.mintIdToken({ aud: 'https://other.run.app' })}` },
      });
      expect(wrongAudience.status).toBe(401);
    },
  );

  it.each([
    [{ SAMPLE_SERVICE: 'orders', ALLOWED_CALLERS: 'a@p.iam.gserviceaccount.com' }, 'ORDERS_AUDIENCE is not set'],
    [{ SAMPLE_SERVICE: 'orders', ORDERS_AUDIENCE: 'https://o.run.app' }, 'ALLOWED_CALLERS is not set'],
    [
      { SAMPLE_SERVICE: 'orders', ORDERS_AUDIENCE: 'https://o.run.app', ALLOWED_CALLERS: 'a@b', INBOUND_MODE: 'iam' },
      'INBOUND_MODE must be verify or cloud-run-iam',
    ],
    [{ SAMPLE_SERVICE: 'gateway' }, 'ORDERS_URL is not set'],
    [{ SAMPLE_SERVICE: 'billing' }, 'SAMPLE_SERVICE must be one of gateway, orders'],
    [{ K_SERVICE: 'my-service' }, 'set SAMPLE_SERVICE=gateway or SAMPLE_SERVICE=orders'],
  ])('refuses to start with %j: %s', async (env, message) => {
    running = runScript(MAIN, [], { PORT: '0', ...env });
    expect(await running.exited).toEqual({ code: 1, signal: null });
    expect(running.stderr()).toContain('configuration error: ');
    expect(running.stderr()).toContain(message);
  });

  it('K_SERVICE=gateway (Cloud Run) runs the gateway, not the demo', async () => {
    emu = await startEmulator({ serviceAccountEmail: 'gateway@p.iam.gserviceaccount.com' });
    const url = await startService({
      K_SERVICE: 'gateway',
      ORDERS_URL: 'http://127.0.0.1:9',
      GCE_METADATA_HOST: emu.metadataHost,
    });
    const whoami = await (await fetch(`${url}/whoami`)).json();
    expect(whoami).toMatchObject({ service: 'gateway', email: 'gateway@p.iam.gserviceaccount.com' });
    // orders is down: the gateway says so instead of hanging or leaking a stack.
    const res = await fetch(`${url}/orders/1001`);
    expect(res.status).toBe(502);
  });
});
