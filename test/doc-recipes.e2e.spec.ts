/**
 * The local recipes of docs/graphql.md, docs/opentelemetry.md and docs/health.md, run as they are
 * written there: the blocks of each page that name a file are written to test/.snippets/doc-recipes/,
 * emitted to JavaScript next to themselves (what `nest build` would emit), and the recipe's main.ts
 * runs as a child process with the variables the page's commands set, against an emulator started
 * here as the page starts the command. The requests are the page's curl lines. test/docs.spec.ts
 * type-checks the same blocks; this runs them. Nothing to keep in sync by hand.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { isListening, runScript, type RunningScript } from './utils/child-process.js';
import { codeBlocks, writeBlocks } from './utils/markdown.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A folder of its own: the other files that write documentation blocks empty theirs when they load.
const OUT = join(root, 'test/.snippets/doc-recipes');

/** The emulator's --service-account in the pages' commands. */
const GATEWAY = 'gateway@my-project.iam.gserviceaccount.com';
const ORDERS = 'orders@my-project.iam.gserviceaccount.com';
/** A valid token of an account no recipe allows. */
const STRANGER = 'someone@other-project.iam.gserviceaccount.com';

/**
 * Writes the named ts blocks of `doc` under OUT, each with its JavaScript next to it, and returns
 * where the JavaScript of its block named `file` is. The package is imported by its name, resolved
 * to dist/ through the package's exports, as in an application.
 */
function writeRecipe(doc: string): (file: string) => string {
  const dir = join(OUT, doc.replace(/\.md$/, '').replace(/\//g, '__'));
  const blocks = codeBlocks(readFileSync(join(root, doc), 'utf8'), doc).filter(
    (block) => block.lang === 'ts' && block.file !== undefined,
  );
  for (const [path, block] of writeBlocks(blocks, dir)) {
    const { outputText } = ts.transpileModule(block.code, {
      fileName: path,
      compilerOptions: {
        module: ts.ModuleKind.ES2022,
        target: ts.ScriptTarget.ES2022,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        useDefineForClassFields: false,
      },
    });
    writeFileSync(path.replace(/\.ts$/, '.js'), outputText);
  }
  return (file) => {
    if (!blocks.some((block) => block.file === file)) throw new Error(`${doc} has no block named ${file}`);
    return join(dir, file.replace(/\.ts$/, '.js'));
  };
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A recipe's main.ts, running. */
interface Service {
  /** Its URL, and its `SERVICE_URL`: the audience its callers' tokens are for. */
  url: string;
  process: RunningScript;
}

const running: RunningScript[] = [];

/**
 * Runs the recipe's `main` (`npm run start` after `nest build`) with the variables of the page's
 * step 2, `env`, and `PORT` and `SERVICE_URL` for a free port; resolves once it listens.
 */
async function serve(main: string, env: NodeJS.ProcessEnv): Promise<Service> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = runScript(main, [], { PORT: String(port), SERVICE_URL: url, ...env }, { cwd: root });
  running.push(child);
  // Nest logs "successfully started" when the application is initialised, before it listens.
  for (const deadline = Date.now() + 30_000; !(await isListening(url));) {
    if (child.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${main} is not listening on ${url}\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, process: child };
}

/** What the page's `curl -H 'Metadata-Flavor: Google' …/identity?audience=…&format=full` answers. */
async function metadataToken(emu: Emulator, audience: string): Promise<string> {
  const query = new URLSearchParams({ audience, format: 'full' }).toString();
  const url = `${emu.url}/computeMetadata/v1/instance/service-accounts/default/identity?${query}`;
  const res = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' } });
  expect(res.status).toBe(200);
  return res.text();
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

rmSync(OUT, { recursive: true, force: true });
const graphql = writeRecipe('docs/graphql.md');
const opentelemetry = writeRecipe('docs/opentelemetry.md');
const health = writeRecipe('docs/health.md');

// Child processes start slowly on a loaded machine.
describe('the documentation recipes, run as written', { timeout: 60_000 }, () => {
  const cloudsdkConfig = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
  let gatewayEmu: Emulator;
  let ordersEmu: Emulator;
  let stopped: string;
  const services: Record<string, Service> = {};

  beforeAll(async () => {
    // `npx cloud-run-auth-emulator --service-account …` of each page.
    [gatewayEmu, ordersEmu] = await Promise.all([
      startEmulator({ serviceAccountEmail: GATEWAY }),
      startEmulator({ serviceAccountEmail: ORDERS }),
    ]);
    // Step 2 of each page, every service at once. The pages that fetch tokens also keep credentials
    // files out (`unset GOOGLE_APPLICATION_CREDENTIALS; export CLOUDSDK_CONFIG=$(mktemp -d)`).
    const withMetadataServer = (emu: Emulator) => ({
      CERTS_URL: emu.certsUrl,
      GCE_METADATA_HOST: emu.metadataHost,
      CLOUDSDK_CONFIG: cloudsdkConfig,
    });
    stopped = `127.0.0.1:${await freePort()}`; // where the emulator listens when it runs
    const started = await Promise.all([
      serve(graphql('orders/src/main.ts'), { CERTS_URL: gatewayEmu.certsUrl }),
      serve(graphql('orders/src/main.mercurius.ts'), { CERTS_URL: gatewayEmu.certsUrl }),
      serve(opentelemetry('orders/src/main.ts'), withMetadataServer(gatewayEmu)),
      serve(health('orders/src/main.ts'), withMetadataServer(ordersEmu)),
      // The emulator's addresses, with no emulator running.
      serve(health('orders/src/main.ts'), {
        CERTS_URL: `http://${stopped}/oauth2/v3/certs`,
        GCE_METADATA_HOST: stopped,
        CLOUDSDK_CONFIG: cloudsdkConfig,
      }),
    ]);
    const names = ['Apollo on Express', 'Mercurius on Fastify', 'opentelemetry', 'health', 'health, no emulator'];
    names.forEach((name, index) => (services[name] = started[index]!));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(running.map((child) => child.kill()));
    await gatewayEmu?.close();
    await ordersEmu?.close();
    rmSync(cloudsdkConfig, { recursive: true, force: true });
  });

  describe.each(['Apollo on Express', 'Mercurius on Fastify'])('docs/graphql.md, %s', (stack) => {
    const query = async (query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${services[stack]!.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query }),
      });
      return { status: res.status, body: (await res.json()) as { data: unknown; errors?: { message: string }[] } };
    };

    it("answers whoAmI with the gateway's email, from a token of the metadata server, and health without a token", async () => {
      const token = await metadataToken(gatewayEmu, services[stack]!.url);
      expect(await query('{ whoAmI }', bearer(token))).toEqual({ status: 200, body: { data: { whoAmI: GATEWAY } } });
      expect(await query('{ health }')).toEqual({ status: 200, body: { data: { health: 'ok' } } });
    });

    it('refuses whoAmI without a token (Unauthorized), and invoices to the gateway and whoAmI to another account (Forbidden)', async () => {
      const { url } = services[stack]!;
      const anonymous = await query('{ whoAmI }');
      expect(anonymous.status).toBe(200); // GraphQL refusals: HTTP 200, data null, errors
      expect(anonymous.body.data).toBeNull();
      expect(anonymous.body.errors?.[0]?.message).toBe('Unauthorized');
      const invoices = await query('{ invoices }', bearer(await metadataToken(gatewayEmu, url)));
      expect(invoices.body.data).toBeNull();
      expect(invoices.body.errors?.[0]?.message).toBe('Forbidden');
      const stranger = gatewayEmu.mintIdToken({ aud: url, email: STRANGER });
      expect((await query('{ whoAmI }', bearer(stranger))).body.errors?.[0]?.message).toBe('Forbidden');
    });
  });

  describe('docs/opentelemetry.md', () => {
    it('answers 200, 401 and 403, and its console shows the decisions, the token fetch and its span', async () => {
      const orders = services.opentelemetry!;
      const token = await metadataToken(gatewayEmu, orders.url);
      const allowed = await fetch(`${orders.url}/orders/42`, { headers: bearer(token) });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ id: '42', caller: GATEWAY });
      expect((await fetch(`${orders.url}/orders/42`)).status).toBe(401);
      const stranger = gatewayEmu.mintIdToken({ aud: orders.url, email: STRANGER });
      expect((await fetch(`${orders.url}/orders/42`, { headers: bearer(stranger) })).status).toBe(403);

      // The console exporters' output (util.inspect of each metric and span), within an export interval.
      await orders.process.waitForStdout(/reason: 'caller_not_allowed'/, 20_000);
      await orders.process.waitForStdout(/name: 'cloud_run_auth\.token\.fetch',/, 20_000);
      /** The last printed object named `name`, from its name on. */
      const printed = (name: string) => {
        const output = orders.process.stdout();
        const start = output.lastIndexOf(`name: '${name}'`);
        return start < 0 ? '' : output.slice(start, output.indexOf('\n}\n', start));
      };
      const decisions = printed('cloud_run_auth.inbound.decisions');
      expect(decisions).toContain(`outcome: 'allowed',\n        caller: '${GATEWAY}'`);
      expect(decisions).toContain(`outcome: 'rejected',\n        reason: 'missing_token'`);
      expect(decisions).toContain(`outcome: 'rejected',\n        reason: 'caller_not_allowed'`);
      expect(printed('cloud_run_auth.inbound.verify.duration')).toContain('count: 2');
      expect(printed('cloud_run_auth.jwks.fetches')).toContain(`outcome: 'ok',\n        cause: 'initial'`);
      expect(printed('cloud_run_auth.token.fetches')).toContain(`source: 'metadata',\n        outcome: 'ok'`);
      expect(printed('cloud_run_auth.token.fetch')).toContain(`source: 'metadata',\n    outcome: 'ok'`);
    });
  });

  describe('docs/health.md', () => {
    it('answers the probe, without a token, 200 with the emulator running', async () => {
      const res = await fetch(`${services.health!.url}/ready`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { info: Record<string, unknown> };
      expect(body.info['cloud-run-auth']).toEqual({
        status: 'up',
        services: {
          inventory: {
            status: 'up',
            audience: 'https://inventory-abc123-ew.a.run.app',
            validForSeconds: expect.any(Number) as number,
          },
        },
        keys: { status: 'up' },
      });
      // The probe's route is exempt: the mounted guard has no probe to warn about at boot.
      expect(services.health!.process.stdout()).not.toContain('like a health probe');
    });

    it('stays up when the emulator stops while it runs: the token is cached, the keys loaded', async () => {
      expect((await fetch(`${services.health!.url}/ready`)).status).toBe(200);
      await ordersEmu.close(); // the health recipe's alone
      expect((await fetch(`${services.health!.url}/ready`)).status).toBe(200);
    });

    it('answers 503 when the emulator is not running, naming inventory, the keys and what to check', async () => {
      type Down = { status: 'down'; error: string };
      type Result = { error: Record<string, { services: Record<string, Down>; keys: Down }> };
      const probe = async () => {
        const res = await fetch(`${services['health, no emulator']!.url}/ready`);
        expect(res.status).toBe(503);
        return ((await res.json()) as Result).error['cloud-run-auth']!;
      };
      // A probe waits 1 s for a token; a fetch still running then goes on, and the next probe joins it.
      let result = await probe();
      while (result.services.inventory!.error.includes('within 1000 ms')) result = await probe();
      expect(result.services.inventory).toEqual({
        status: 'down',
        audience: 'https://inventory-abc123-ew.a.run.app',
        error: expect.stringContaining(`nothing is listening at ${stopped} — is the emulator running?`) as string,
      });
      expect(result.keys).toEqual({
        status: 'down',
        error: `no signing keys could be fetched from http://${stopped}/oauth2/v3/certs`,
      });
    });
  });
});
