import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { run, type RunningScript } from './utils/child-process.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { payloadOf } from './utils/tokens.js';

/**
 * Google's own Go and Java ID-token samples ("cloudrun_service_to_service_auth": Go's
 * `idtoken.NewClient` + `client.Get`, Java's `IdTokenCredentials` + `HttpCredentialsAdapter`),
 * as Google publishes them, against the emulator's metadata server and a Nest app behind
 * CloudRunAuthGuard. Built from Debian's packages: golang-go with golang-google-api-dev
 * (google.golang.org/api 0.61.0, GOPATH mode, offline), and default-jdk-headless with
 * libgoogle-auth-java (0.18.0). Each language is skipped, saying which packages to install, when
 * they are missing; CI installs them (.ci/run).
 *
 * The programs are compiled once into node_modules/.cache/cloud-run-auth-fixtures/ (or
 * $CLOUD_RUN_AUTH_FIXTURES_CACHE), keyed by a hash of their source and toolchain, so later runs
 * start them straight away.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(root, 'test', 'fixtures');
/** Where compiled samples are kept; .ci/run points its Node 22 pass (a copy of the tree) at the node20 pass's. */
const CACHE =
  process.env.CLOUD_RUN_AUTH_FIXTURES_CACHE ?? join(root, 'node_modules', '.cache', 'cloud-run-auth-fixtures');

const GO = '/usr/bin/go';
const GOPATH = '/usr/share/gocode';
const GO_SOURCE = join(FIXTURES, 'go_idtoken', 'main.go');
const GO_IDTOKEN = join(GOPATH, 'src', 'google.golang.org', 'api', 'idtoken', 'idtoken.go');

const JAVA = '/usr/bin/java';
const JAVAC = '/usr/bin/javac';
const JARS_DIR = '/usr/share/java';
const JAVA_SOURCE = join(FIXTURES, 'java_idtoken', 'IdTokenSample.java');
/** google-auth-library-java and what it loads at run time, as Debian names the jars. */
const JARS = [
  'google-auth-library-oauth2-http',
  'google-auth-library-credentials',
  'google-http-client',
  'google-http-client-jackson2',
  'jackson-core',
  'guava',
  'opencensus-api',
  'opencensus-contrib-http-util',
  'grpc-context',
].map((name) => join(JARS_DIR, `${name}.jar`));
const COMPILE_JARS = JARS.slice(0, 3);

const GO_PACKAGES = 'apt-get install golang-go golang-google-api-dev';
const JAVA_PACKAGES = 'apt-get install default-jdk-headless libgoogle-auth-java';

const RUNTIME = 'runtime@jv-project.iam.gserviceaccount.com';
const AUDIENCE = 'https://orders-123.europe-west1.run.app';
const IDENTITY = 'service-accounts/default/identity';

function output(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 15_000 });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.trim() : undefined;
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)));
}

function detectGo(): { version: string } | { missing: string } {
  if (!existsSync(GO)) return { missing: `${GO} not found (${GO_PACKAGES})` };
  if (!existsSync(GO_IDTOKEN)) return { missing: `google.golang.org/api/idtoken not in ${GOPATH} (${GO_PACKAGES})` };
  const go = output(GO, ['env', 'GOVERSION']);
  if (!go) return { missing: `${GO} env GOVERSION failed (${GO_PACKAGES})` };
  const api = output('dpkg-query', ['-W', '-f=${Version}', 'golang-google-api-dev']);
  return { version: `${api ? `google.golang.org/api ${api.replace(/-[^-]*$/, '')}` : 'google.golang.org/api'}, ${go}` };
}

function detectJava(): { version: string } | { missing: string } {
  for (const tool of [JAVA, JAVAC]) if (!existsSync(tool)) return { missing: `${tool} not found (${JAVA_PACKAGES})` };
  const absent = JARS.filter((jar) => !existsSync(jar));
  if (absent.length > 0) return { missing: `${absent.join(', ')} not found (${JAVA_PACKAGES})` };
  const versioned = readdirSync(JARS_DIR)
    .map((name) => /^google-auth-library-oauth2-http-(\d[\w.]*)\.jar$/.exec(name)?.[1])
    .find((version) => version !== undefined);
  return { version: versioned ?? 'unknown version' };
}

const go = detectGo();
const java = detectJava();
if ('missing' in go) console.warn(`Go idtoken tests skipped: ${go.missing}`);
if ('missing' in java) console.warn(`Java google-auth-library tests skipped: ${java.missing}`);

/** A request as it reached the guarded app, and the app's answer. */
interface Arrival {
  path: string;
  bearer: boolean;
  status?: number;
  wwwAuthenticate?: string;
}

/** What a sample printed: the answer it got, or why it got none. */
interface SampleResult {
  status?: number;
  body?: string;
  wwwAuthenticate?: string | null;
  error?: string;
}

/** One emulator and one guarded app (email allow-list), shared by both languages. */
interface Shared {
  emu: Emulator;
  app: GuardedApp;
  arrivals: Arrival[];
  /** An empty HOME and gcloud config: no developer credentials reach the samples. */
  home: string;
}

/** Records every request that reaches the app (before the guard) and the status it answered. */
const recordArrivals =
  (arrivals: Arrival[]) =>
  (app: INestApplication): void => {
    app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const arrival: Arrival = { path: req.url ?? '', bearer: /^Bearer \S/.test(req.headers.authorization ?? '') };
      arrivals.push(arrival);
      res.on('finish', () => {
        arrival.status = res.statusCode;
        const www = res.getHeader('www-authenticate');
        if (typeof www === 'string') arrival.wwwAuthenticate = www;
      });
      next();
    });
  };

let shared: Promise<Shared> | undefined;
const extraApps: GuardedApp[] = [];
const children = new Set<RunningScript>();

function setUp(): Promise<Shared> {
  return (shared ??= (async () => {
    const emu = await startEmulator({ serviceAccountEmail: RUNTIME, projectId: 'jv-project' });
    const arrivals: Arrival[] = [];
    const app = await startGuardedApp(
      'express',
      { inbound: { audience: AUDIENCE, allowedCallers: [RUNTIME], certsUrl: emu.certsUrl } },
      undefined,
      recordArrivals(arrivals),
    );
    return { emu, app, arrivals, home: mkdtempSync(join(tmpdir(), 'go-java-home-')) };
  })());
}

afterAll(async () => {
  await Promise.all([...children].map((child) => child.kill()));
  await Promise.all(extraApps.map((app) => app.close()));
  const s = await shared?.catch(() => undefined);
  await s?.app.close();
  await s?.emu.close();
  if (s) rmSync(s.home, { recursive: true, force: true });
});

async function runChild(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string) {
  const child = run(command, args, env, { cwd });
  children.add(child);
  try {
    const exit = await child.exited;
    await child.outputClosed;
    return { exit, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    children.delete(child);
  }
}

/**
 * `dir` in the cache for these inputs, made by `build(tmp)` the first time (then renamed into
 * place, so a half-built directory is never used, and the kind's older builds removed);
 * `compileMs` is set when it was built now.
 */
async function cached(kind: string, inputs: string[], build: (tmp: string) => Promise<void>) {
  const key = createHash('sha256').update(inputs.join('\0')).digest('hex').slice(0, 16);
  const dir = join(CACHE, `${kind}-${key}`);
  if (existsSync(dir)) return { dir, compileMs: undefined };
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, `${kind}-${key}.tmp-`));
  const start = Date.now();
  try {
    await build(tmp);
    try {
      renameSync(tmp, dir);
    } catch (error) {
      if (!existsSync(dir)) throw error; // another run got there first
    }
    // Builds of earlier sources or toolchains are not used again.
    for (const name of readdirSync(CACHE)) {
      if (name !== `${kind}-${key}` && new RegExp(`^${kind}-[0-9a-f]{16}$`).test(name)) {
        rmSync(join(CACHE, name), { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { dir, compileMs: Date.now() - start };
}

const stamp = (path: string) => {
  const { size, mtimeMs } = statSync(path);
  return `${path}:${size}:${mtimeMs}`;
};

/** Runs a sample, expecting it to print one JSON object. Messages carry its stderr, never a token. */
async function runSample(command: string, args: string[], s: Shared, env: NodeJS.ProcessEnv = {}) {
  const { exit, stdout, stderr } = await runChild(command, args, {
    GCE_METADATA_HOST: s.emu.metadataHost,
    HOME: s.home,
    CLOUDSDK_CONFIG: s.home,
    ...env,
  });
  const describeRun = `${command} ${args.join(' ')} exited with ${JSON.stringify(exit)}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
  let result: SampleResult;
  try {
    result = JSON.parse(stdout) as SampleResult;
  } catch {
    throw new Error(`no JSON result: ${describeRun}`);
  }
  expect(result.error, `the sample failed: ${describeRun}`).toBeUndefined();
  expect(exit, describeRun).toEqual({ code: 0, signal: null });
  return { result, describeRun };
}

/** The metadata server's ID-token requests and the app's arrivals during `action`. */
async function observe<T>(s: Shared, action: () => Promise<T>, arrivals = s.arrivals) {
  const fetchesBefore = s.emu.requests(IDENTITY).length;
  const arrivalsBefore = arrivals.length;
  const value = await action();
  return {
    value,
    fetches: s.emu.requests(IDENTITY).slice(fetchesBefore),
    arrivals: arrivals.slice(arrivalsBefore),
  };
}

/** One `format=full` token fetch, and one request to `/guarded/email` that got 200 with the caller's email. */
function expectAllowedWithEmail({
  value,
  fetches,
  arrivals,
}: Awaited<ReturnType<typeof observe<Awaited<ReturnType<typeof runSample>>>>>): void {
  const { result, describeRun } = value;
  expect(result.status, `${result.body}\n${describeRun}`).toBe(200);
  expect(JSON.parse(result.body!)).toEqual({ email: RUNTIME });
  expect(
    fetches.map((r) => r.query),
    'ID-token requests to the metadata server',
  ).toEqual([expect.objectContaining({ audience: AUDIENCE, format: 'full' })]);
  expect(arrivals, 'requests that reached the app').toEqual([{ path: '/guarded/email', bearer: true, status: 200 }]);
}

const goTitle =
  'version' in go
    ? `Go idtoken (${go.version}): Google's sample against the emulator and a guarded app`
    : `Go idtoken against the emulator (skipped: ${go.missing})`;

describe.skipIf(!('version' in go))(goTitle, { timeout: 30_000 }, () => {
  let s: Shared;
  let binary: string;

  beforeAll(async () => {
    s = await setUp();
    // runtime/cgo needs a C compiler; without one, build without cgo (slower: the standard library is rebuilt).
    const cgo = onPath('gcc') ? '1' : '0';
    const built = await cached(
      'go',
      [readFileSync(GO_SOURCE, 'utf8'), output(GO, ['version']) ?? '', cgo, stamp(GO_IDTOKEN)],
      async (tmp) => {
        const { exit, stderr } = await runChild(
          GO,
          ['build', '-o', join(tmp, 'go_idtoken'), GO_SOURCE],
          { GOPATH, GO111MODULE: 'off', GOFLAGS: '', CGO_ENABLED: cgo, GOCACHE: join(CACHE, 'go-build') },
          dirname(GO_SOURCE),
        );
        expect(exit, `go build failed\n${stderr}`).toEqual({ code: 0, signal: null });
      },
    );
    if (built.compileMs !== undefined) console.info(`go_idtoken compiled in ${built.compileMs} ms`);
    binary = join(built.dir, 'go_idtoken');
  }, 300_000);

  it('idtoken.NewClient asks for format=full: 200, the caller is its email', async () => {
    expectAllowedWithEmail(await observe(s, () => runSample(binary, [AUDIENCE, `${s.app.url}/guarded/email`], s)));
  });
});

const javaTitle =
  'version' in java
    ? `Java google-auth-library ${java.version}: Google's sample against the emulator and a guarded app`
    : `Java google-auth-library against the emulator (skipped: ${java.missing})`;

describe.skipIf(!('version' in java))(javaTitle, { timeout: 30_000 }, () => {
  let s: Shared;
  let classpath: string;
  const runJava = (mode: 'standard' | 'full', url: string) =>
    // C1 only and the shared class archive: a short-lived client starts faster.
    runSample(JAVA, ['-XX:TieredStopAtLevel=1', '-Xshare:auto', 'IdTokenSample', AUDIENCE, url, mode], s, {
      CLASSPATH: classpath,
    });

  beforeAll(async () => {
    s = await setUp();
    const built = await cached(
      'java',
      [readFileSync(JAVA_SOURCE, 'utf8'), output(JAVAC, ['-version']) ?? '', ...COMPILE_JARS.map(stamp)],
      async (tmp) => {
        const { exit, stderr } = await runChild(JAVAC, ['-d', tmp, '-cp', COMPILE_JARS.join(':'), JAVA_SOURCE], {});
        expect(exit, `javac failed\n${stderr}`).toEqual({ code: 0, signal: null });
      },
    );
    if (built.compileMs !== undefined) console.info(`IdTokenSample compiled in ${built.compileMs} ms`);
    classpath = [built.dir, ...JARS].join(':');
  }, 120_000);

  it('with IdTokenProvider.Option.FORMAT_FULL: format=full, 200, the caller is its email', async () => {
    expectAllowedWithEmail(await observe(s, () => runJava('full', `${s.app.url}/guarded/email`)));
  });

  it('as published (no FORMAT_FULL), against an email allow-list: one request, 403 insufficient_scope, no retry loop', async () => {
    const { value, fetches, arrivals } = await observe(s, () => runJava('standard', `${s.app.url}/guarded/email`));
    const { result, describeRun } = value;
    // A 401 would make HttpCredentialsAdapter refresh the token and send the request again, up to 10 times.
    const seen =
      `${arrivals.length} request(s) reached the app, answered ` +
      `${JSON.stringify(arrivals.map((a) => `${a.status} ${a.wwwAuthenticate ?? ''}`.trim()))}; ` +
      `${fetches.length} ID-token fetch(es)\n${describeRun}`;
    expect(arrivals.length, `requests that reached the app: ${seen}`).toBe(1);
    expect(result.status, `${result.body}\n${describeRun}`).toBe(403);
    expect(result.wwwAuthenticate, 'WWW-Authenticate as Java received it').toMatch(
      /^Bearer error="insufficient_scope"(,|$)/,
    );
    expect(arrivals[0]).toMatchObject({ path: '/guarded/email', bearer: true, status: 403 });
    expect(fetches.length, `ID-token requests to the metadata server: ${seen}`).toBeGreaterThanOrEqual(1);
    expect(fetches.length, `ID-token requests to the metadata server: ${seen}`).toBeLessThanOrEqual(2);
    for (const fetch of fetches) {
      expect(fetch.query, 'the sample as published asks for the standard format').not.toHaveProperty('format', 'full');
    }
  });

  it('as published (no FORMAT_FULL), against a "sub:UNIQUE_ID" allow-list: 200, the caller is its subject', async () => {
    // The account's unique ID: the `sub` of the emulator's tokens for it.
    const subject = payloadOf(s.emu.mintIdToken({ aud: AUDIENCE })).sub as string;
    expect(subject).toMatch(/^[0-9]+$/);
    const arrivals: Arrival[] = [];
    const app = await startGuardedApp(
      'express',
      { inbound: { audience: AUDIENCE, allowedCallers: [`sub:${subject}`], certsUrl: s.emu.certsUrl } },
      undefined,
      recordArrivals(arrivals),
    );
    extraApps.push(app);
    const { value, fetches } = await observe(s, () => runJava('standard', `${app.url}/guarded/me`), arrivals);
    const { result, describeRun } = value;
    expect(result.status, `${result.body}\n${describeRun}`).toBe(200);
    const caller = JSON.parse(result.body!) as Record<string, unknown>;
    expect(caller).toMatchObject({ subject, audience: AUDIENCE });
    expect(caller.email, 'a standard-format token has no email').toBeUndefined();
    expect(fetches).toHaveLength(1);
    expect(arrivals, 'requests that reached the app').toEqual([{ path: '/guarded/me', bearer: true, status: 200 }]);
  });
});
