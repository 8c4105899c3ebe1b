import { createPrivateKey, createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isListening, runScript, type RunningScript } from './utils/child-process.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BIN = join(root, pkg.bin['cloud-run-auth-emulator']);

/** Verifies an RS256 JWT against a JWKS with node:crypto only; returns its payload. */
function verifyWithJwks(token: string, jwks: { keys: (JsonWebKey & { kid: string })[] }): Record<string, unknown> {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const { alg, kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
  expect(alg).toBe('RS256');
  const jwk = jwks.keys.find((key) => key.kid === kid);
  expect(jwk, `kid ${kid} is published`).toBeDefined();
  const key = createPublicKey({ key: jwk!, format: 'jwk' });
  const valid = verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
  expect(valid, 'signature verifies against the published key').toBe(true);
  return JSON.parse(Buffer.from(payload, 'base64url').toString());
}

// Child processes start slowly on a loaded machine; their own waits are up to 30 s.
describe('cloud-run-auth-emulator (the built bin)', { timeout: 60_000 }, () => {
  let running: RunningScript | undefined;
  let blocker: Server | undefined;
  let guarded: GuardedApp | undefined;

  beforeAll(() => {
    expect(readFileSync(BIN, 'utf8').split('\n')[0], `${BIN} must exist (npm run build) and start with a shebang`).toBe(
      '#!/usr/bin/env node',
    );
  });
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
    await running?.kill();
    running = undefined;
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('starts, prints its addresses, serves ID tokens that verify against its printed JWKS, and stops on SIGTERM', async () => {
    running = runScript(BIN, [
      '--port',
      '0',
      '--service-account',
      'gateway@my-project.iam.gserviceaccount.com',
      '--token-lifetime',
      '600',
    ]);
    const [, metadataHost] = await running.waitForStdout(/export GCE_METADATA_HOST=(\S+)/);
    const [, certsUrl] = await running.waitForStdout(/certs URL \(JWKS\)\s+(\S+)/);
    const [, metadataIp] = await running.waitForStdout(/export GCE_METADATA_IP=(\S+)/);
    const [, keyFile] = await running.waitForStdout(/export GOOGLE_APPLICATION_CREDENTIALS=(\S+)/);
    expect(metadataHost).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(metadataIp).toBe(metadataHost);
    expect(certsUrl).toBe(`http://${metadataHost}/oauth2/v3/certs`);
    expect(running.stdout()).toContain('gateway@my-project.iam.gserviceaccount.com');

    const audience = 'https://orders-123.europe-west1.run.app';
    const identityUrl =
      `http://${metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity` +
      `?audience=${encodeURIComponent(audience)}&format=full`;
    // The metadata protocol: without the flavor header the request is refused.
    expect((await fetch(identityUrl)).status).toBe(403);
    const response = await fetch(identityUrl, { headers: { 'Metadata-Flavor': 'Google' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('metadata-flavor')).toBe('Google');
    const token = (await response.text()).trim();

    const jwks = (await (await fetch(certsUrl)).json()) as Parameters<typeof verifyWithJwks>[1];
    const claims = verifyWithJwks(token, jwks);
    expect(claims).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: audience,
      email: 'gateway@my-project.iam.gserviceaccount.com',
      email_verified: true,
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);

    // The printed key file: owner-only, the same account, token_uri here; a grant signed for
    // Google's token URL (as Python google-auth 2.x and Node sign them) gets an ID token.
    expect(statSync(keyFile!).mode & 0o777).toBe(0o600);
    const key = JSON.parse(readFileSync(keyFile!, 'utf8'));
    expect(key).toMatchObject({
      type: 'service_account',
      client_email: 'gateway@my-project.iam.gserviceaccount.com',
      token_uri: `http://${metadataHost}/token`,
    });
    const now = Math.floor(Date.now() / 1000);
    const segment = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64url');
    const input = `${segment({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id })}.${segment({
      iss: key.client_email,
      aud: 'https://oauth2.googleapis.com/token',
      iat: now,
      exp: now + 3600,
      target_audience: audience,
    })}`;
    const assertion = `${input}.${sign('sha256', Buffer.from(input), createPrivateKey(key.private_key)).toString('base64url')}`;
    const grant = await fetch(key.token_uri, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    expect(grant.status).toBe(200);
    const { id_token } = (await grant.json()) as { id_token: string };
    expect(verifyWithJwks(id_token, jwks)).toMatchObject({ aud: audience, email: key.client_email });

    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.stdout()).toContain('Stopped (SIGTERM)');
    expect(await isListening(metadataHost)).toBe(false);
    expect(existsSync(keyFile!), 'the key file is removed on stop').toBe(false);
  });

  it('--json prints one machine-readable line; Ctrl-C (SIGINT) stops it cleanly', async () => {
    running = runScript(BIN, ['--json', '-p', '0']);
    const [line] = await running.waitForStdout(/^\{.*\}\n/);
    const info = JSON.parse(line);
    expect(info).toMatchObject({
      metadataHost: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      certsUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/v3\/certs$/),
      iapCertsUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/iap\/verify\/public_key-jwk$/),
      serviceAccountEmail: 'caller@emulator-project.iam.gserviceaccount.com',
      tokenLifetimeSeconds: 3600,
      env: { GCE_METADATA_HOST: info.metadataHost, GCE_METADATA_IP: info.metadataHost },
      keyFile: expect.stringMatching(/service-account\.json$/),
    });
    expect(JSON.parse(readFileSync(info.keyFile, 'utf8')).client_email).toBe(info.serviceAccountEmail);
    const email = await fetch(
      `http://${info.metadataHost}/computeMetadata/v1/instance/service-accounts/default/email`,
      {
        headers: { 'Metadata-Flavor': 'Google' },
      },
    );
    expect(await email.text()).toBe(info.serviceAccountEmail);

    running.child.kill('SIGINT');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.stdout().trim().split('\n')).toHaveLength(1);
    expect(await isListening(info.metadataHost)).toBe(false);
    expect(existsSync(info.keyFile)).toBe(false);
  });

  it('--iap-audience: serves IAP assertions for curl, which a guard with inbound.iap accepts, as the user asked for', async () => {
    const audience = '/projects/123456789012/locations/europe-west1/services/orders';
    running = runScript(BIN, ['-p', '0', '--iap-audience', audience]);
    const [, printedAudience] = await running.waitForStdout(/IAP audience\s+(\S+)/);
    const [, iapCertsUrl] = await running.waitForStdout(/IAP keys \(JWKS\)\s+(\S+)\s+set it as inbound\.iap\.certsUrl/);
    const [, assertionUrl] = await running.waitForStdout(/IAP assertions\s+(\S+)\?email=EMAIL/);
    expect(printedAudience).toBe(audience);
    expect(assertionUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/iap\/assertion$/);
    expect(running.stdout()).toContain(
      `curl -H "x-goog-iap-jwt-assertion: $(curl -s '${assertionUrl}?email=alice@example.com')"`,
    );

    // What the printed curl line does: get an assertion, send it as IAP would.
    const assertionFor = async (email: string) => {
      const response = await fetch(`${assertionUrl}?email=${encodeURIComponent(email)}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      return response.text();
    };
    guarded = await startGuardedApp('express', {
      inbound: { iap: { audience, certsUrl: iapCertsUrl! }, allowedCallers: ['alice@example.com'] },
    });
    const alice = await guarded.call('/guarded/me', {
      'x-goog-iap-jwt-assertion': await assertionFor('alice@example.com'),
    });
    expect(alice.status).toBe(200);
    expect(JSON.parse(alice.body)).toMatchObject({ source: 'iap', email: 'alice@example.com', audience });
    const bob = await guarded.call('/guarded/me', {
      'x-goog-iap-jwt-assertion': await assertionFor('bob@example.com'),
    });
    expect(bob.status).toBe(403);
    expect((await fetch(assertionUrl!)).status).toBe(400);
    expect((await fetch(`${assertionUrl}?email=not-an-email`)).status).toBe(400);
  });

  it('--iap-audience with --json adds iapAudience and iapAssertionUrl; without it, no assertion is served', async () => {
    const audience = '/projects/123456789012/global/backendServices/4242';
    running = runScript(BIN, ['--json', '-p', '0', '--iap-audience', audience]);
    const info = JSON.parse((await running.waitForStdout(/^\{.*\}\n/))[0]);
    expect(info).toMatchObject({ iapAudience: audience, iapAssertionUrl: `${info.url}/iap/assertion` });
    const assertion = await (await fetch(`${info.iapAssertionUrl}?email=carol@example.com`)).text();
    const claims = JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: 'https://cloud.google.com/iap', aud: audience, email: 'carol@example.com' });
    await running.kill();

    running = runScript(BIN, ['--json', '-p', '0']);
    const plain = JSON.parse((await running.waitForStdout(/^\{.*\}\n/))[0]);
    expect(plain).not.toHaveProperty('iapAssertionUrl');
    expect((await fetch(`${plain.url}/iap/assertion?email=carol@example.com`)).status).toBe(404);
  });

  it('--help prints the usage and exits 0', async () => {
    running = runScript(BIN, ['--help']);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.stdout()).toContain('Usage: cloud-run-auth-emulator');
    for (const flag of ['--port', '--service-account', '--token-lifetime', '--iap-audience', '--json', '--help']) {
      expect(running.stdout()).toContain(flag);
    }
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--port'], /--port <value>' argument missing/],
    [['--port', 'abc'], /--port must be a whole number from 0 to 65535, got "abc"/],
    [['--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['--token-lifetime', '0'], /--token-lifetime must be a whole number from 1/],
    [['--service-account', 'not-an-email'], /--service-account must be an email address/],
    [['positional'], /Unexpected argument 'positional'/],
    [['--iap-audience', 'orders'], /--iap-audience must be "\/projects\/PROJECT_NUMBER\/locations\/.*got "orders"/],
  ])('refuses %j with a clear message and exit code 2', async (args, message) => {
    running = runScript(BIN, args);
    expect(await running.exited).toEqual({ code: 2, signal: null });
    expect(running.stderr()).toMatch(message);
    expect(running.stderr()).toContain('--help');
    expect(running.stdout()).toBe('');
  });

  it('says so and exits 1 when the port is taken', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    running = runScript(BIN, ['--port', String(port)]);
    expect(await running.exited).toEqual({ code: 1, signal: null });
    expect(running.stderr()).toContain(`port ${port} on 127.0.0.1 is already in use`);
  });
});
