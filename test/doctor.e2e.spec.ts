import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundOptions } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { runToEnd, type CommandOutput } from './utils/child-process.js';
import { CapturingLogger, compileGuardedModule } from './utils/guarded-app.js';

/**
 * `cloud-run-auth doctor` end to end: the built bin against the emulator, real guarded Nest
 * applications on loopback, and a stand-in for Cloud Run's IAM front end (the one thing that
 * cannot run here). Each case runs the same command twice, as text and with --json, and
 * asserts the cause, the next step and the exit code of both, and that neither output holds a
 * token, a signature segment or a private key.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BIN = join(root, pkg.bin['cloud-run-auth']);
const OTHER_CALLER = 'billing@other-project.iam.gserviceaccount.com';
const FOREIGN_AUDIENCE = 'https://orders-123456789012.europe-west1.run.app';
const ORDERS_CALLER = 'orders-caller@emulator-project.iam.gserviceaccount.com';

/** Runs the built bin's doctor with only the environment given (and PATH, HOME), stdin from `input`. */
function runDoctor(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<CommandOutput> {
  return runToEnd(BIN, ['doctor', ...args], env, input);
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A guarded application (test/utils' controllers) whose inbound options may name its own origin; records the tokens it receives. */
interface App {
  origin: string;
  received: string[];
  close(): Promise<void>;
}

async function startApp(inbound: (origin: string) => InboundOptions): Promise<App> {
  const port = await closedPort();
  const origin = `http://127.0.0.1:${port}`;
  const moduleRef = await compileGuardedModule({ inbound: inbound(origin) });
  const app: INestApplication = moduleRef.createNestApplication({ logger: new CapturingLogger() });
  const received: string[] = [];
  app.use((req: { headers: Record<string, string | undefined> }, _res: unknown, next: () => void) => {
    if (req.headers.authorization) received.push(req.headers.authorization.replace(/^Bearer /, ''));
    next();
  });
  await app.listen(port, '127.0.0.1');
  return { origin, received, close: () => app.close() };
}

/**
 * Cloud Run's front end for a private service that grants roles/run.invoker to nobody: a token
 * for its URL gets the 403 page of Google Front End ("Your client does not have permission to get
 * URL … from this server."), anything else (an access token, another audience) its 401 page with
 * `WWW-Authenticate: Bearer error="invalid_token" error_description="The access token could not be
 * verified"`, as Cloud Run answers them; the request never reaches a container.
 */
async function startCloudRunFrontEnd(): Promise<App> {
  const received: string[] = [];
  let origin = '';
  const page = (status: 401 | 403, path: string) =>
    status === 403
      ? `<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>${path}</code> from this server.</h2>\n<h2></h2>\n</body></html>\n`
      : `<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n<title>401 Unauthorized</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Unauthorized</h1>\n<h2>Your client does not have permission to the requested URL <code>${path}</code>.</h2>\n<h2></h2>\n</body></html>\n`;
  const server: Server = createHttpServer((req, res) => {
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) received.push(bearer);
    let aud: unknown;
    try {
      aud = JSON.parse(Buffer.from(bearer!.split('.')[1]!, 'base64url').toString()).aud;
    } catch {
      aud = undefined;
    }
    const status = bearer === undefined || aud === origin ? 403 : 401;
    res.writeHead(status, {
      'content-type': 'text/html; charset=UTF-8',
      server: 'Google Frontend',
      ...(status === 401 && {
        'www-authenticate': 'Bearer error="invalid_token" error_description="The access token could not be verified"',
      }),
    });
    res.end(page(status, req.url ?? '/'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** doctor's --json output, as JSON.parse gives it. */
type DoctorJson = ReturnType<typeof JSON.parse>;

/** One row of the table: a command, and what doctor must conclude from it. */
interface Case {
  name: string;
  /** Arguments after `doctor`, environment, and the token material of the case (what must never be printed). */
  setup(): { args: string[]; env?: NodeJS.ProcessEnv; input?: string; secrets?: string[] };
  exitCode: 0 | 1 | 3;
  cause: RegExp;
  nextStep: RegExp;
  /** More assertions on the JSON object. */
  json?(result: DoctorJson): void;
}

describe('cloud-run-auth doctor (the built bin)', { timeout: 60_000 }, () => {
  let emu: Emulator;
  let other: Emulator;
  let tmp: string;
  let good: App;
  let strict: App;
  let foreign: App;
  let frontEnd: App;
  let stoppedPort: number;
  const file = (name: string, content: string) => {
    const path = join(tmp, name);
    writeFileSync(path, content);
    return path;
  };
  /** `doctor verify` of `token` (written to `fileName`) for `audience` with the emulator's keys, then `extra`. */
  const verifyArgs = (audience: string, fileName: string, token: string, ...extra: string[]) => [
    'verify',
    '--audience',
    audience,
    '--certs-url',
    emu.certsUrl,
    ...extra,
    '--token-file',
    file(fileName, token),
  ];
  /** A token that expired an hour ago, minted when the case runs: the hour must not grow while others run. */
  const expired = () => {
    const now = Math.floor(Date.now() / 1000);
    return emu.mintIdToken({ aud: good.origin, iat: now - 7200, exp: now - 3600 });
  };
  const baseEnv = () => ({ CLOUDSDK_CONFIG: join(tmp, 'gcloud'), GCE_METADATA_HOST: emu.metadataHost });
  const identity = async (audience: string, format: 'full' | 'standard') => {
    const url = `${emu.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}&format=${format}`;
    return (await fetch(url, { headers: { 'Metadata-Flavor': 'Google' } })).text();
  };
  let accessToken: string;
  let noEmailToken: string;
  let otherKeyToken: string;

  beforeAll(async () => {
    expect(readFileSync(BIN, 'utf8').split('\n')[0], `${BIN} must exist (npm run build)`).toBe('#!/usr/bin/env node');
    tmp = mkdtempSync(join(tmpdir(), 'doctor-e2e-'));
    [emu, other] = await Promise.all([startEmulator(), startEmulator()]);
    const allowed = [emu.serviceAccountEmail, ORDERS_CALLER];
    [good, strict, foreign, frontEnd] = await Promise.all([
      startApp((origin) => ({ audience: origin, certsUrl: emu.certsUrl, allowedCallers: allowed })),
      startApp((origin) => ({ audience: origin, certsUrl: emu.certsUrl, allowedCallers: [OTHER_CALLER] })),
      startApp(() => ({ audience: FOREIGN_AUDIENCE, certsUrl: emu.certsUrl, allowedCallers: allowed })),
      startCloudRunFrontEnd(),
    ]);
    stoppedPort = await closedPort();
    const token = await fetch(`${emu.url}/computeMetadata/v1/instance/service-accounts/default/token`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    accessToken = ((await token.json()) as { access_token: string }).access_token;
    noEmailToken = await identity(good.origin, 'standard');
    otherKeyToken = other.mintIdToken({ aud: FOREIGN_AUDIENCE });
  });

  afterAll(async () => {
    await Promise.all([good, strict, foreign, frontEnd].map((app) => app?.close()));
    await Promise.all([emu, other].map((e) => e?.close()));
    rmSync(tmp, { recursive: true, force: true });
  });

  const cases: Case[] = [
    {
      name: 'a call that works (200)',
      setup: () => ({ args: ['call', `${good.origin}/guarded/me`] }),
      exitCode: 0,
      cause: /^the call works: HTTP 200 as caller@emulator-project\.iam\.gserviceaccount\.com$/,
      nextStep: /^nothing to fix$/,
      json: (r) => {
        expect(r.call).toMatchObject({ status: 200, from: 'service', header: 'authorization' });
        expect(r.token).toMatchObject({ from: 'minted', audience: good.origin });
        expect(r.token.audienceFrom).toMatch(/the URL's origin: what the library sends by default/);
        expect(r.credentials).toMatchObject({ kind: 'metadata', source: `metadata server at ${emu.metadataHost}` });
        expect(r.credentials.adc.find((step: { used: boolean }) => step.used).step).toBe('metadata server');
        expect(r.token.summary.claims).toMatchObject({ aud: good.origin, email: emu.serviceAccountEmail });
      },
    },
    {
      name: 'a call that works as a configured service: a key in the options, impersonating another account',
      setup: () => {
        const options = {
          credentials: {
            credentials: emu.createServiceAccountKey(),
            impersonate: ORDERS_CALLER,
            iamCredentialsUrl: emu.iamCredentialsUrl,
          },
          services: [{ name: 'orders', url: good.origin }],
        };
        return {
          args: [
            'call',
            `${good.origin}/guarded/me`,
            '--service',
            'orders',
            '--config',
            file('caller.json', JSON.stringify(options)),
          ],
        };
      },
      exitCode: 0,
      cause: /^the call works: HTTP 200 as orders-caller@emulator-project\.iam\.gserviceaccount\.com$/,
      nextStep: /^nothing to fix$/,
      json: (r) => {
        expect(r.service).toBe('orders');
        expect(r.credentials).toMatchObject({ kind: 'impersonated', impersonates: ORDERS_CALLER });
        expect(r.credentials.source).toBe(
          `impersonation of ${ORDERS_CALLER} by service_account key (the credentials option)`,
        );
        expect(r.credentials.adc.find((step: { used: boolean }) => step.used).step).toBe('credentials option');
        expect(r.token.audienceFrom).toBe('the origin of services[orders].url: what the library sends by default');
      },
    },
    {
      name: 'the audience has a path',
      setup: () => ({ args: ['call', `${good.origin}/guarded/me`, '--audience', `${good.origin}/guarded/me`] }),
      exitCode: 1,
      cause:
        /^the audience has a path \(http:\/\/127\.0\.0\.1:\d+\/guarded\/me\); Cloud Run expects the service URL \(its origin, http:\/\/127\.0\.0\.1:\d+\)$/,
      nextStep: /^request the token for http:\/\/127\.0\.0\.1:\d+: the library's default audience/,
      json: (r) =>
        expect(r.call).toMatchObject({ status: 401, from: 'guard', wwwAuthenticate: 'Bearer error="invalid_token"' }),
    },
    {
      name: 'the audience of another service',
      setup: () => ({
        args: ['call', `${good.origin}/guarded/me`, '--audience', 'https://billing-abcdefghij-ew.a.run.app'],
      }),
      exitCode: 1,
      cause:
        /^the token is for another audience: aud https:\/\/billing-abcdefghij-ew\.a\.run\.app is not the URL called \(http:\/\/127\.0\.0\.1:\d+\)$/,
      nextStep: /^request the token for http:\/\/127\.0\.0\.1:\d+, the URL's origin/,
    },
    {
      name: 'an access token instead of an ID token (call)',
      setup: () => ({
        args: ['call', `${good.origin}/guarded/me`, '--token-file', file('access-token.txt', `${accessToken}\n`)],
        secrets: [accessToken],
      }),
      exitCode: 1,
      cause: /^the target refused it \(401\): the token is an OAuth access token \(ya29\.…\), not an ID token$/,
      nextStep:
        /^send a Google ID token for the service URL: .*identity\?audience=http:\/\/127\.0\.0\.1:\d+&format=full/,
      json: (r) => expect(r.token).toMatchObject({ from: 'input', summary: { kind: 'access-token' } }),
    },
    {
      name: 'an access token instead of an ID token (verify, from stdin)',
      setup: () => ({
        args: ['verify', '--audience', good.origin, '--certs-url', emu.certsUrl, '--stdin'],
        input: `Bearer ${accessToken}`,
        secrets: [accessToken],
      }),
      exitCode: 1,
      cause:
        /^an OAuth access token \(ya29\.…\), not an ID token: Cloud Run and the guard accept Google-signed ID tokens only$/,
      nextStep: /^send a Google ID token for the service URL instead: /,
      json: (r) =>
        expect(r.diagnosis).toMatchObject({ accepted: false, status: 401, reason: 'malformed', fixOn: 'caller' }),
    },
    {
      name: 'user credentials (authorized_user) without impersonation',
      setup: () => {
        const user = emu.createUserCredentials();
        const path = file('adc.json', JSON.stringify(user));
        return {
          args: ['call', `${good.origin}/guarded/me`],
          env: { GOOGLE_APPLICATION_CREDENTIALS: path },
          secrets: [user.refresh_token!, user.client_secret!],
        };
      },
      exitCode: 1,
      cause:
        /^the credentials are a user account \(authorized_user credentials \(GOOGLE_APPLICATION_CREDENTIALS=.*adc\.json\)\): user credentials cannot mint an ID token for an audience/,
      nextStep:
        /^`gcloud auth application-default login --impersonate-service-account=SA_EMAIL` \(it needs roles\/iam\.serviceAccountTokenCreator on SA_EMAIL\)/,
      json: (r) => {
        expect(r.credentials).toMatchObject({ kind: 'authorized_user' });
        expect(r.credentials.adc.find((step: { used: boolean }) => step.used).step).toBe(
          'GOOGLE_APPLICATION_CREDENTIALS',
        );
        expect(r.call).toBeUndefined();
      },
    },
    {
      name: 'no email claim (call)',
      setup: () => ({
        args: ['call', `${good.origin}/guarded/me`, '--token-file', file('no-email.txt', noEmailToken)],
        secrets: [noEmailToken],
      }),
      exitCode: 1,
      cause: /^the token has no email: it was requested without format=full/,
      nextStep: /^request it with format=full .* or add "sub:\d+" to the service's allow-list$/,
      json: (r) =>
        expect(r.call).toMatchObject({
          status: 403,
          from: 'guard',
          wwwAuthenticate: 'Bearer error="insufficient_scope"',
        }),
    },
    {
      name: 'no email claim (verify)',
      setup: () => ({
        args: [
          'verify',
          '--config',
          file(
            'good.json',
            JSON.stringify({
              inbound: { audience: good.origin, certsUrl: emu.certsUrl, allowedCallers: [emu.serviceAccountEmail] },
            }),
          ),
          '--token-file',
          file('no-email-2.txt', noEmailToken),
        ],
        secrets: [noEmailToken],
      }),
      exitCode: 1,
      cause: /^the token has no email claim: it was requested without format=full/,
      nextStep: /^request it with format=full .*, or list the caller as "sub:\d+"$/,
      json: (r) =>
        expect(r.diagnosis).toMatchObject({ status: 403, reason: 'missing_email', failedClaim: { claim: 'email' } }),
    },
    {
      name: 'the caller is not in the allow-list (call)',
      setup: () => ({ args: ['call', `${strict.origin}/guarded/me`] }),
      exitCode: 3,
      cause:
        /^the service's allow-list does not admit caller@emulator-project\.iam\.gserviceaccount\.com \(a 403 from its guard/,
      nextStep:
        /^add caller@emulator-project\.iam\.gserviceaccount\.com to the service's inbound\.allowedCallers \(or the route's @AllowedCallers\(\)\)$/,
    },
    {
      name: "the caller is not in a route's allow-list (verify --allow)",
      setup: () => {
        const token = emu.mintIdToken({ aud: FOREIGN_AUDIENCE });
        return {
          args: verifyArgs(FOREIGN_AUDIENCE, 'valid.txt', token, '--allow', OTHER_CALLER),
          secrets: [token],
        };
      },
      exitCode: 3,
      cause:
        /^caller caller@emulator-project\.iam\.gserviceaccount\.com is not in the allow-list \(the route's @AllowedCallers\(\): \["billing@other-project\.iam\.gserviceaccount\.com"\]\)$/,
      nextStep:
        /^add caller@emulator-project\.iam\.gserviceaccount\.com to the route's @AllowedCallers\(\) of the service/,
      json: (r) => {
        expect(r.diagnosis).toMatchObject({ status: 403, reason: 'caller_not_allowed', fixOn: 'service' });
        expect(r.diagnosis.caller).toMatchObject({
          allowList: 'route',
          allowed: false,
          email: emu.serviceAccountEmail,
        });
      },
    },
    {
      name: 'an unknown kid (a token signed by another key)',
      setup: () => ({
        args: verifyArgs(FOREIGN_AUDIENCE, 'other-key.txt', otherKeyToken),
        secrets: [otherKeyToken],
      }),
      exitCode: 1,
      cause:
        /^the token's signing key \(kid [0-9a-f]+\) is not among the keys at http:\/\/127\.0\.0\.1:\d+\/oauth2\/v3\/certs: the emulator there did not sign it/,
      nextStep: /^mint a new token from the emulator that runs now/,
      json: (r) =>
        expect(r.diagnosis).toMatchObject({
          status: 401,
          reason: 'unknown_kid',
          failedClaim: { claim: 'kid', received: other.currentKid },
        }),
    },
    {
      name: 'an expired token (verify)',
      setup: () => {
        const token = expired();
        return {
          args: verifyArgs(good.origin, 'expired.txt', token),
          secrets: [token],
        };
      },
      exitCode: 1,
      cause: /^the token expired 60 min ago$/,
      nextStep: /^get a fresh token: ID tokens live an hour/,
      json: (r) => expect(r.diagnosis).toMatchObject({ status: 401, reason: 'expired', failedClaim: { claim: 'exp' } }),
    },
    {
      name: 'an expired token (call)',
      setup: () => {
        const token = expired();
        return {
          args: ['call', `${good.origin}/guarded/me`, '--token-file', file('expired-2.txt', token)],
          secrets: [token],
        };
      },
      exitCode: 1,
      cause: /^the token expired 60 min ago$/,
      nextStep: /^get a fresh one/,
    },
    {
      name: 'the service verifies another audience',
      setup: () => ({ args: ['call', `${foreign.origin}/guarded/me`] }),
      exitCode: 3,
      cause:
        /^the service refused a valid-looking token for its own URL \(http:\/\/127\.0\.0\.1:\d+\): it verifies another audience/,
      nextStep: /^add http:\/\/127\.0\.0\.1:\d+ to the service's inbound\.audience/,
    },
    {
      name: 'the service verifies another audience (its configuration run here names the claim)',
      setup: () => ({
        args: [
          'call',
          `${foreign.origin}/guarded/me`,
          '--target-config',
          file(
            'foreign.json',
            JSON.stringify({
              inbound: {
                audience: FOREIGN_AUDIENCE,
                certsUrl: emu.certsUrl,
                allowedCallers: [emu.serviceAccountEmail],
              },
            }),
          ),
        ],
      }),
      exitCode: 3,
      cause:
        /^the service verifies another audience: callers ask for its URL \(http:\/\/127\.0\.0\.1:\d+\), and inbound\.audience is \["https:\/\/orders-123456789012\.europe-west1\.run\.app"\] \(the inbound options of .*foreign\.json: invalid_audience\)$/,
      nextStep: /^add http:\/\/127\.0\.0\.1:\d+ to the service's inbound\.audience \(it takes an array\)/,
      json: (r) =>
        expect(r.verification).toMatchObject({
          reason: 'invalid_audience',
          fixOn: 'service',
          failedClaim: { claim: 'aud', received: foreign.origin, expected: FOREIGN_AUDIENCE },
        }),
    },
    {
      name: 'the emulator (metadata server) is not running',
      setup: () => ({
        args: ['call', `${good.origin}/guarded/me`],
        env: { GCE_METADATA_HOST: `127.0.0.1:${stoppedPort}` },
      }),
      exitCode: 1,
      cause:
        /^no credentials file was found, so the library asks the metadata server at 127\.0\.0\.1:\d+ \(GCE_METADATA_HOST\), and nothing is listening there: the emulator is not running$/,
      nextStep: /^start it: npx cloud-run-auth emulator --port \d+$/,
      json: (r) => {
        expect(r.nextStep).toBe(`start it: npx cloud-run-auth emulator --port ${stoppedPort}`);
        expect(r.token.error).toMatch(/nothing is listening at 127\.0\.0\.1:\d+/);
      },
    },
    {
      name: "Cloud Run's IAM front end refuses a caller without roles/run.invoker",
      setup: () => ({ args: ['call', `${frontEnd.origin}/orders`] }),
      exitCode: 3,
      cause:
        /^Cloud Run refused the call before it reached the container \(its 403 page\): caller@emulator-project\.iam\.gserviceaccount\.com lacks roles\/run\.invoker on the service$/,
      nextStep:
        /^gcloud run services add-iam-policy-binding SERVICE --region REGION --member=serviceAccount:caller@emulator-project\.iam\.gserviceaccount\.com --role=roles\/run\.invoker/,
      json: (r) => expect(r.call).toMatchObject({ status: 403, from: 'cloud-run' }),
    },
    {
      name: "Cloud Run's front end refuses a token for another audience (401)",
      setup: () => ({ args: ['call', `${frontEnd.origin}/orders`, '--audience', `${frontEnd.origin}/orders`] }),
      exitCode: 1,
      cause: /^the audience has a path \(http:\/\/127\.0\.0\.1:\d+\/orders\); Cloud Run expects the service URL/,
      nextStep: /^request the token for http:\/\/127\.0\.0\.1:\d+/,
      json: (r) =>
        expect(r.call).toMatchObject({
          status: 401,
          from: 'cloud-run',
          wwwAuthenticate: 'Bearer error="invalid_token" error_description="The access token could not be verified"',
        }),
    },
  ];

  it.each(cases)('$name', async (c) => {
    const { args, env, input, secrets = [] } = c.setup();
    const before = [good, strict, foreign, frontEnd].map((app) => app.received.length);
    const environment = { ...baseEnv(), ...env };
    const [text, json] = await Promise.all([
      runDoctor(args, environment, input),
      runDoctor([...args, '--json'], environment, input),
    ]);
    const context = `stdout:\n${text.stdout}\nstderr:\n${text.stderr}`;
    expect(text.code, context).toBe(c.exitCode);
    expect(text.stdout).toMatch(new RegExp(`^Cause {6}${c.cause.source.replace(/^\^/, '')}`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^Next step  ${c.nextStep.source.replace(/^\^/, '')}`, 'm'));
    expect(text.stdout).toContain(`Exit code  ${c.exitCode} (`);

    expect(json.code, json.stderr).toBe(c.exitCode);
    expect(json.stdout.trim().split('\n'), 'one JSON object on one line').toHaveLength(1);
    const result = JSON.parse(json.stdout);
    expect(result.exitCode).toBe(c.exitCode);
    expect(result.cause).toMatch(c.cause);
    expect(result.nextStep).toMatch(c.nextStep);
    c.json?.(result);

    // Every token of the case: what it pasted, and what reached the targets (the tokens doctor minted).
    const sent = [good, strict, foreign, frontEnd].flatMap((app, i) => app.received.slice(before[i]));
    for (const output of [text, json]) {
      const all = output.stdout + output.stderr;
      for (const token of [...secrets, ...sent]) {
        expect(all).not.toContain(token);
        const signature = token.split('.')[2];
        if (signature) expect(all).not.toContain(signature);
      }
      for (const marker of ['eyJ', '-----BEGIN', 'private_key']) expect(all).not.toContain(marker);
    }
  });
});
