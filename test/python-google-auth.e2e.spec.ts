import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { run } from './utils/child-process.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { payloadOf } from './utils/tokens.js';

/**
 * Python google-auth, the real library, against the emulator: Debian's python3-google-auth
 * (1.5.1) with python3-requests, run by the system Python (`/usr/bin/python3`; a pyenv or venv
 * Python on PATH usually lacks them). Skipped, saying why, when either is missing; CI installs
 * them (.ci/run). The newer APIs (id_token.fetch_id_token, impersonated_credentials) are checked
 * at the wire level in emulator-metadata.e2e.spec.ts and emulator-oauth.e2e.spec.ts.
 */

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'python_google_auth.py');

function detectPython(): { version: string } | { missing: string } {
  if (!existsSync(PYTHON)) return { missing: `${PYTHON} not found` };
  const probe = spawnSync(
    PYTHON,
    ['-I', '-c', "import importlib.metadata as m, google.auth, requests; print(m.version('google-auth'))"],
    { encoding: 'utf8', timeout: 15_000 },
  );
  if (probe.status !== 0) {
    return {
      missing: `google-auth or requests not importable by ${PYTHON} (apt-get install python3-google-auth python3-requests)`,
    };
  }
  return { version: probe.stdout.trim() };
}

const python = detectPython();
if ('missing' in python) console.warn(`Python google-auth tests skipped: ${python.missing}`);
const title =
  'version' in python
    ? `Python google-auth ${python.version} against the emulator`
    : `Python google-auth against the emulator (skipped: ${python.missing})`;

const RUNTIME = 'runtime@py-project.iam.gserviceaccount.com';
const KEY_SA = 'key-holder@py-project.iam.gserviceaccount.com';
const AUDIENCE = 'https://orders-123.europe-west1.run.app';

interface Step {
  ok: boolean;
  value?: unknown;
  error?: string;
  trace?: string;
}

describe.skipIf(!('version' in python))(title, { timeout: 60_000 }, () => {
  let emu: Emulator;
  let guarded: GuardedApp;
  let results: Record<string, Step>;
  const value = <T>(name: string): T => {
    const result = results[name];
    expect(result, `step ${name} ran`).toBeDefined();
    expect(result!.ok, `${name}: ${result!.error}\n${result!.trace}`).toBe(true);
    return result!.value as T;
  };

  beforeAll(async () => {
    emu = await startEmulator({ serviceAccountEmail: RUNTIME, projectId: 'py-project' });
    guarded = await startGuardedApp('express', {
      inbound: { audience: AUDIENCE, allowedCallers: [RUNTIME, KEY_SA], certsUrl: emu.certsUrl },
    });
    const dir = mkdtempSync(join(tmpdir(), 'py-google-auth-'));
    const write = (name: string, json: unknown) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify(json), { mode: 0o600 });
      return path;
    };
    const key = emu.createServiceAccountKey(KEY_SA);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const config = {
      audience: AUDIENCE,
      pem_certs_url: emu.pemCertsUrl,
      key_file: write('key.json', key),
      bad_key_file: write('bad-key.json', { ...key, private_key: other.export({ type: 'pkcs8', format: 'pem' }) }),
      user_file: write('user.json', emu.createUserCredentials('dev@example.com')),
      spki_pem: createPublicKey(createPrivateKey(key.private_key!)).export({ type: 'spki', format: 'pem' }),
    };
    const gcloud = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
    const child = run(PYTHON, ['-I', SCRIPT, write('config.json', config)], {
      GCE_METADATA_IP: emu.metadataHost,
      GCE_METADATA_HOST: emu.metadataHost,
      GCE_METADATA_ROOT: emu.metadataHost,
      CLOUDSDK_CONFIG: gcloud,
    });
    const exit = await child.exited;
    expect(exit, `python exited\n${child.stderr()}`).toEqual({ code: 0, signal: null });
    results = JSON.parse(child.stdout()) as Record<string, Step>;
  });
  afterAll(async () => {
    await guarded?.close();
    await emu?.close();
  });

  it('_metadata.ping: GET / on GCE_METADATA_IP answers 200 with Metadata-Flavor: Google', () => {
    expect(value('ping')).toBe(true);
    const [probe] = emu.requests('/');
    expect(probe!.method).toBe('GET');
    expect(probe!.headers['metadata-flavor']).toBe('Google');
  });

  it('google.auth.default(): compute_engine credentials from the metadata server, the project id, an access token', () => {
    const result = value<{ type: string; project: string; email: string; token: string }>('default');
    expect(result).toMatchObject({
      type: 'google.auth.compute_engine.credentials.Credentials',
      project: 'py-project',
      email: RUNTIME,
    });
    expect(emu.principalOf(result.token)).toBe(RUNTIME);
    expect(emu.requests('service-accounts/default/').map((r) => r.query)).toContainEqual({ recursive: 'true' });
  });

  it('service_account.IDTokenCredentials: a padded assertion (aud = token_uri, then aud = Google’s URL) gets an ID token', () => {
    for (const name of ['sa_id_token', 'sa_id_token_google_aud']) {
      expect(payloadOf(value<string>(name)), name).toMatchObject({
        aud: AUDIENCE,
        email: KEY_SA,
        email_verified: true,
      });
    }
    const assertions = emu
      .requests('/token')
      .map((r) => new URLSearchParams(r.body).get('assertion'))
      .filter((a): a is string => a !== null);
    expect(assertions.length).toBeGreaterThanOrEqual(3);
    expect(assertions.every((a) => a.includes('='))).toBe(true); // google-auth 1.x pads every segment
    const audiences = assertions.map((a) => payloadOf(a.replace(/=/g, '')).aud);
    expect(audiences).toContain(emu.tokenUri);
    expect(audiences).toContain('https://oauth2.googleapis.com/token');
  });

  it('service_account.Credentials: an access token', () => {
    expect(emu.principalOf(value<string>('sa_access_token'))).toBe(KEY_SA);
  });

  it('a key the emulator did not issue: RefreshError "invalid_grant: Invalid JWT Signature."', () => {
    expect(results.sa_bad_key!.ok).toBe(false);
    expect(results.sa_bad_key!.error).toMatch(/^RefreshError: \('invalid_grant: Invalid JWT Signature\.'/);
  });

  it('oauth2.credentials.Credentials (authorized_user): refresh grant, with an ID token', () => {
    const { token, id_token } = value<{ token: string; id_token: string }>('user_refresh');
    expect(emu.principalOf(token)).toBe('dev@example.com');
    expect(payloadOf(id_token)).toMatchObject({ email: 'dev@example.com' });
  });

  it('id_token.verify_token with the emulator’s /oauth2/v1/certs verifies each token', () => {
    const verified = value<Record<string, Record<string, unknown>>>('verified');
    expect(Object.keys(verified).sort()).toEqual(['metadata_identity', 'sa_id_token', 'sa_id_token_google_aud']);
    expect(verified.metadata_identity).toMatchObject({
      aud: AUDIENCE,
      email: RUNTIME,
      iss: 'https://accounts.google.com',
    });
    expect(verified.sa_id_token).toMatchObject({ aud: AUDIENCE, email: KEY_SA });
  });

  it('the pure-Python RSA verifier parses every X.509 certificate and verifies with it (a bare public key it refuses)', () => {
    const result = value<{ verified: boolean; parsed: string[]; spki_public_key: string }>('pure_python_rsa');
    expect(result.verified).toBe(true);
    expect(result.parsed).toEqual([emu.currentKid]);
    expect(result.spki_public_key).toMatch(/^refused/);
    expect(value('crypt_verify_signature')).toBe(true);
  });

  it('a Nest app behind CloudRunAuthGuard accepts the ID tokens Python obtained', async () => {
    for (const name of ['metadata_identity', 'sa_id_token', 'sa_id_token_google_aud']) {
      const token = value<string>(name);
      const res = await guarded.call('/guarded/email', { authorization: `Bearer ${token}` });
      expect(res.status, `${name}: ${res.body}`).toBe(200);
      expect(JSON.parse(res.body).email).toBe(payloadOf(token).email);
    }
  });
});
