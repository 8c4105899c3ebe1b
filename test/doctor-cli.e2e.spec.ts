import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { isListening, runScript, runToEnd, type CommandOutput, type RunningScript } from './utils/child-process.js';

/**
 * The `cloud-run-auth` bin around doctor: its help and usage errors, `emulator` (the same as
 * `cloud-run-auth-emulator`), and `doctor config` on module options files of each kind.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BIN = join(root, pkg.bin['cloud-run-auth']);

/** Runs the built bin with only the environment given (and PATH, HOME). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandOutput> {
  return runToEnd(BIN, args, env);
}

describe('cloud-run-auth (the built bin)', { timeout: 60_000 }, () => {
  let tmp: string;
  let emu: Emulator;
  let running: RunningScript | undefined;
  const file = (name: string, content: string) => {
    const path = join(tmp, name);
    writeFileSync(path, content);
    return path;
  };
  const env = () => ({ CLOUDSDK_CONFIG: join(tmp, 'gcloud'), GCE_METADATA_HOST: emu.metadataHost });

  beforeAll(async () => {
    expect(readFileSync(BIN, 'utf8').split('\n')[0], `${BIN} must exist (npm run build)`).toBe('#!/usr/bin/env node');
    tmp = mkdtempSync(join(tmpdir(), 'doctor-cli-'));
    emu = await startEmulator();
  });
  afterAll(async () => {
    await running?.kill();
    await emu?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('help', () => {
    it('cloud-run-auth --help lists doctor and emulator', async () => {
      const { code, stdout } = await run(['--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^ {2}doctor {6}explain a failing service-to-service call/m);
      expect(stdout).toMatch(/^ {2}emulator {4}run the local emulator/m);
    });

    it('doctor --help lists the three checks with an example each, and the exit codes', async () => {
      const { code, stdout } = await run(['doctor', '--help']);
      expect(code).toBe(0);
      for (const check of ['call', 'verify', 'config']) {
        expect(stdout).toMatch(new RegExp(`^ {2}${check} `, 'm'));
        expect(stdout).toMatch(new RegExp(`^ {20}cloud-run-auth doctor ${check} \\S`, 'm'));
      }
      for (const code of ['0  works', '1  misconfigured here', '2  bad command line', '3  refused by the target']) {
        expect(stdout).toContain(code);
      }
    });

    it.each([
      ['call', ['--audience', '--service', '--config', '--target-config', '--token-file', '--stdin', '--json']],
      [
        'verify',
        ['--config', '--audience', '--certs-url', '--mode', '--allow', '--route-allow', '--token-file', '--stdin'],
      ],
      ['config', ['--cloud-run', '--json']],
    ])('doctor %s --help lists its options and the exit codes', async (check, flags) => {
      const { code, stdout } = await run(['doctor', check, '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: cloud-run-auth doctor ${check}`);
      for (const flag of flags) expect(stdout).toContain(flag);
      expect(stdout).toContain('3  refused by the target');
    });

    it.each([
      [[], /cloud-run-auth: which command\? doctor or emulator/],
      [['bogus'], /cloud-run-auth: unknown command "bogus"/],
      [['doctor'], /which check\? call, verify or config/],
      [['doctor', 'bogus'], /unknown check "bogus"/],
      [['doctor', 'call'], /give the URL to call \(or --service\)/],
      [['doctor', 'call', 'orders.example.com'], /the URL must be an http\(s\) URL, got "orders\.example\.com"/],
      [['doctor', 'call', '--service', 'orders'], /--service needs --config/],
      [['doctor', 'call', 'https://a.run.app', '--timeout', '0'], /--timeout must be a number of seconds/],
      [['doctor', 'call', 'https://a.run.app', '--bogus'], /Unknown option '--bogus'/],
      [['doctor', 'verify', '--audience', 'https://a.run.app'], /give the token with --token-file <file> or --stdin/],
      [
        ['doctor', 'verify', '--token-file', 't.txt'],
        /give the service's audience \(--audience\) or its module options/,
      ],
      [['doctor', 'verify', '--audience', 'a', 'eyJhbGciOi'], /never on the command line/],
      [['doctor', 'verify', '--audience', 'a', '--stdin', '--token-file', 't'], /--token-file or --stdin, not both/],
      [['doctor', 'verify', '--audience', 'a', '--stdin', '--mode', 'trust'], /--mode must be verify or cloud-run-iam/],
      [['doctor', 'config'], /give one file: the module options/],
    ])('refuses %j with exit code 2 and a message on stderr', async (args, message) => {
      const { code, stdout, stderr } = await run(args);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).toContain('--help');
      expect(stdout).toBe('');
    });
  });

  it('never sends a token in clear text across a network', async () => {
    const { code, stdout } = await run(['doctor', 'call', 'http://orders.internal:8080/orders', '--json'], env());
    expect(code).toBe(1);
    const result = JSON.parse(stdout);
    expect(result.cause).toBe(
      'http://orders.internal:8080/orders is plain http to orders.internal, not to this machine: the token would cross the network in clear text',
    );
    expect(result.nextStep).toMatch(/^call the service by its https URL/);
    expect(emu.requestCount('identity')).toBe(0);
  });

  describe('emulator', () => {
    it('runs what cloud-run-auth-emulator runs, with its options, and stops on SIGTERM', async () => {
      running = runScript(BIN, ['emulator', '--json', '-p', '0', '-e', 'gateway@my-project.iam.gserviceaccount.com']);
      const info = JSON.parse((await running.waitForStdout(/^\{.*\}\n/))[0]);
      expect(info).toMatchObject({
        metadataHost: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        serviceAccountEmail: 'gateway@my-project.iam.gserviceaccount.com',
        keyFile: expect.stringMatching(/service-account\.json$/),
      });
      const email = await fetch(`${info.url}/computeMetadata/v1/instance/service-accounts/default/email`, {
        headers: { 'Metadata-Flavor': 'Google' },
      });
      expect(await email.text()).toBe('gateway@my-project.iam.gserviceaccount.com');
      running.child.kill('SIGTERM');
      expect(await running.exited).toEqual({ code: 0, signal: null });
      expect(await isListening(info.metadataHost)).toBe(false);
    });

    it('names itself in its help and usage errors', async () => {
      const help = await run(['emulator', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: cloud-run-auth emulator \[options\]/);
      const wrong = await run(['emulator', '--port', 'abc']);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('cloud-run-auth emulator: --port must be a whole number from 0 to 65535');
      expect(wrong.stderr).toContain('Run cloud-run-auth emulator --help');
    });
  });

  describe('doctor config', () => {
    // Google's endpoints, not the emulator's: nothing here would fail on Cloud Run.
    const valid = () => ({
      credentials: {
        credentials: { ...emu.createServiceAccountKey(), token_uri: 'https://oauth2.googleapis.com/token' },
      },
      services: [
        { name: 'orders', url: 'https://orders-abc123xyz-ew.a.run.app' },
        {
          name: 'billing',
          url: 'https://billing-abc123xyz-ew.a.run.app/v1',
          audience: 'https://billing.example.com',
          credentials: { impersonate: 'billing-caller@my-project.iam.gserviceaccount.com' },
        },
      ],
      inbound: {
        audience: 'https://gateway-abc123xyz-ew.a.run.app',
        mode: 'cloud-run-iam',
        allowedCallers: ['*@my-project.iam.gserviceaccount.com'],
      },
    });

    it('prints the resolved services, identities and inbound side of a JSON file, never its key', async () => {
      const path = file('options.json', JSON.stringify(valid()));
      const [text, json] = await Promise.all([
        run(['doctor', 'config', path], env()),
        run(['doctor', 'config', path, '--json'], env()),
      ]);
      expect(text.code, text.stdout + text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^ {2}orders {9}https:\/\/orders-abc123xyz-ew\.a\.run\.app \(http\)$/m);
      expect(text.stdout).toContain("audience https://orders-abc123xyz-ew.a.run.app (the URL's origin, the default)");
      expect(text.stdout).toContain('audience https://billing.example.com (its audience option)');
      expect(text.stdout).toMatch(/^ {2}source {9}service_account key \(the credentials option\)$/m);
      expect(text.stdout).toContain(
        'impersonation of billing-caller@my-project.iam.gserviceaccount.com by service_account key (the credentials option)',
      );
      expect(text.stdout).toMatch(/^ {2}mode {11}cloud-run-iam$/m);
      expect(text.stdout).toMatch(/^ {2}allow-list {5}\*@my-project\.iam\.gserviceaccount\.com$/m);
      expect(text.stdout).toContain('nothing that Cloud Run refuses');
      expect(text.stdout).toMatch(
        /^Cause {6}the options are valid: 2 service\(s\) called, inbound verification of https:\/\/gateway/m,
      );
      expect(text.stdout).toMatch(
        /^Next step {2}try a call with them: cloud-run-auth doctor call --service orders --config /m,
      );

      expect(json.code).toBe(0);
      const result = JSON.parse(json.stdout);
      expect(result).toMatchObject({ command: 'config', valid: true, exitCode: 0 });
      expect(result.services).toEqual([
        expect.objectContaining({
          name: 'orders',
          audience: 'https://orders-abc123xyz-ew.a.run.app',
          audienceFrom: 'url origin',
          identity: 0,
        }),
        expect.objectContaining({
          name: 'billing',
          audience: 'https://billing.example.com',
          audienceFrom: 'audience',
          identity: 1,
        }),
      ]);
      expect(result.identities.map((i: { credentials: { kind: string } }) => i.credentials.kind)).toEqual([
        'service_account',
        'impersonated',
      ]);
      expect(result.inbound).toMatchObject({
        audiences: ['https://gateway-abc123xyz-ew.a.run.app'],
        mode: 'cloud-run-iam',
        mount: 'false',
      });
      for (const output of [text, json]) {
        for (const marker of ['-----BEGIN', 'private_key', 'eyJ'])
          expect(output.stdout + output.stderr).not.toContain(marker);
      }
    });

    it.each([
      ['an ES module with a named export', 'options.mjs', (o: string) => `export const cloudRunAuthOptions = ${o};\n`],
      ['an ES module with a default export', 'default.mjs', (o: string) => `export default Promise.resolve(${o});\n`],
      ['a CommonJS module', 'options.cjs', (o: string) => `module.exports = ${o};\n`],
      ['a CommonJS module with a named export', 'named.cjs', (o: string) => `exports.cloudRunAuthOptions = ${o};\n`],
    ])('loads %s', async (_kind, name, source) => {
      const path = file(
        name,
        source(JSON.stringify({ services: [{ name: 'orders', url: 'https://orders-abc123xyz-ew.a.run.app' }] })),
      );
      const { code, stdout } = await run(['doctor', 'config', path, '--json'], env());
      expect(code).toBe(0);
      expect(JSON.parse(stdout).services[0]).toMatchObject({ name: 'orders' });
    });

    it('names the field of invalid options, as the module does, and exits 1', async () => {
      const { inbound, ...rest } = valid();
      const path = file(
        'invalid.json',
        JSON.stringify({ ...rest, inbound: { ...inbound, allowedCallers: undefined } }),
      );
      const [text, json] = await Promise.all([
        run(['doctor', 'config', path], env()),
        run(['doctor', 'config', path, '--json'], env()),
      ]);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(
        /^Cause {6}invalid configuration at inbound\.allowedCallers: no allow-list: any Google account/m,
      );
      expect(text.stdout).toMatch(
        /^Next step {2}fix inbound\.allowedCallers in .*invalid\.json: CloudRunAuthModule refuses to start with it$/m,
      );
      expect(JSON.parse(json.stdout)).toMatchObject({
        valid: false,
        exitCode: 1,
        error: { field: 'inbound.allowedCallers' },
      });
    });

    describe('what Cloud Run would refuse', () => {
      const local = () => ({
        services: [{ name: 'billing', url: 'http://billing:8080', allowInsecureHttp: true }],
        inbound: {
          audience: 'https://gateway-abc123xyz-ew.a.run.app',
          certsUrl: emu.certsUrl,
          allowedCallers: ['gateway@my-project.iam.gserviceaccount.com'],
        },
      });

      it('lists it, and makes it an error with --cloud-run', async () => {
        const path = file('local.json', JSON.stringify(local()));
        const [here, judged] = await Promise.all([
          run(['doctor', 'config', path], env()),
          run(['doctor', 'config', path, '--cloud-run', '--json'], env()),
        ]);
        expect(here.code).toBe(0);
        expect(here.stdout).toMatch(/^ {2}at boot {8}services\[billing\]\.allowInsecureHttp is refused on Cloud Run/m);
        expect(here.stdout).toMatch(
          /^ {2}at run time {4}inbound\.certsUrl is http:\/\/127\.0\.0\.1:\d+\/oauth2\/v3\/certs, on this machine \(the emulator\)/m,
        );
        expect(here.stdout).toMatch(
          /^Cause {6}valid here, but Cloud Run would refuse it at boot: services\[billing\]\.allowInsecureHttp/m,
        );
        expect(judged.code).toBe(1);
        const result = JSON.parse(judged.stdout);
        expect(result.cloudRun).toMatchObject({
          judged: true,
          refusals: [{ field: 'services[billing].allowInsecureHttp' }],
          failures: [{ field: 'inbound.certsUrl' }],
        });
        expect(result.nextStep).toMatch(
          /^keep services\[billing\]\.allowInsecureHttp out of the configuration deployed to Cloud Run/,
        );
      });

      it('is invalid inside a Cloud Run container (K_SERVICE set)', async () => {
        const path = file('local-2.json', JSON.stringify(local()));
        const { code, stdout } = await run(['doctor', 'config', path], { ...env(), K_SERVICE: 'gateway' });
        expect(code).toBe(1);
        expect(stdout).toMatch(
          /^Cause {6}invalid configuration at services\[billing\]\.allowInsecureHttp: is refused on Cloud Run \(K_SERVICE is set\)/m,
        );
      });

      it('refuses the test caller guard', async () => {
        const testing = pathToFileURL(join(root, 'dist/esm/testing/index.js')).href;
        const path = file(
          'mounted.mjs',
          `import { testCallerGuard } from ${JSON.stringify(testing)};\n` +
            `export default { inbound: { audience: 'https://gateway-abc123xyz-ew.a.run.app', allowAnyCaller: true, mount: testCallerGuard('gateway@my-project.iam.gserviceaccount.com') } };\n`,
        );
        const { code, stdout } = await run(['doctor', 'config', path, '--cloud-run', '--json'], env());
        expect(code, stdout).toBe(1);
        const result = JSON.parse(stdout);
        expect(result.inbound.mount).toBe('TestCallerGuard');
        expect(result.cloudRun.refusals).toEqual([
          { field: 'inbound.mount', problem: expect.stringMatching(/testCallerGuard\(\)\) is for tests only/) },
        ]);
      });
    });

    it.each([
      ['a missing file', () => join(tmp, 'missing.json'), /missing\.json cannot be read \(ENOENT\)$/],
      ['a file that is not JSON', () => file('broken.json', '{ "services": [ }'), /is not valid JSON/],
      [
        'a module without options',
        () => file('empty.mjs', 'export const other = 1;\n'),
        /does not export an options object/,
      ],
      ['a module that throws', () => file('throws.mjs', 'throw new Error("boom");\n'), /could not be loaded \(Error\)/],
      ['another kind of file', () => file('options.yaml', 'services: []\n'), /is neither JSON nor a JavaScript module/],
    ])('says so, with exit code 1, for %s', async (_kind, path, cause) => {
      const { code, stdout } = await run(['doctor', 'config', path(), '--json'], env());
      expect(code).toBe(1);
      const result = JSON.parse(stdout);
      expect(result).toMatchObject({ command: 'config', exitCode: 1 });
      expect(result.cause).toMatch(cause);
      expect(result.nextStep).not.toBe('');
    });

    it.runIf((process.features as { typescript?: unknown }).typescript)(
      'loads a TypeScript file where Node strips types',
      async () => {
        const path = file(
          'options.ts',
          'interface Service {\n  name: string;\n  url: string;\n}\n' +
            "const orders: Service = { name: 'orders', url: 'https://orders-abc123xyz-ew.a.run.app' };\n" +
            'export const cloudRunAuthOptions = { services: [orders] };\n',
        );
        const { code, stdout } = await run(['doctor', 'config', path], env());
        expect(code, stdout).toBe(0);
        expect(stdout).toMatch(/^ {2}orders {9}https:\/\/orders-abc123xyz-ew\.a\.run\.app \(http\)$/m);
      },
    );

    it.skipIf((process.features as { typescript?: unknown }).typescript)(
      'says how to load a TypeScript file where Node cannot strip types',
      async () => {
        const path = file('options.ts', 'export const cloudRunAuthOptions: object = {};\n');
        const { code, stdout } = await run(['doctor', 'config', path], env());
        expect(code).toBe(1);
        expect(stdout).toMatch(
          /^Cause {6}.*options\.ts is TypeScript, which Node \S+ cannot load without a compiler$/m,
        );
        expect(stdout).toMatch(/^Next step {2}point doctor at the compiled \.js file/m);
      },
    );
  });
});
