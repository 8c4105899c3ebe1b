import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify as verifySignature, createPublicKey } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { IdTokenFetchError, type CloudRunAuthModuleOptions } from '../lib/index.js';
import { bearer, payloadOf, startTarget, type Target } from './utils/target.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';

const SA = 'caller@proj.iam.gserviceaccount.com';
const ORDERS_SA = 'orders-caller@proj.iam.gserviceaccount.com';
const BILLING_SA = 'billing-caller@proj.iam.gserviceaccount.com';
const FAST = { initialBackoffMs: 10, deadlineMs: 500 };

describe('credential sources', () => {
  let emu: Emulator;
  let target: Target;
  let app: INestApplication | undefined;
  let dir: string;
  const savedConfigDir = process.env.CLOUDSDK_CONFIG;

  const writeJson = (name: string, json: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(json));
    return path;
  };
  const boot = async (
    options: Omit<CloudRunAuthModuleOptions, 'services'> = {},
    services?: CloudRunAuthModuleOptions['services'],
  ) => {
    app = await createCallerApp({
      tokenCache: FAST,
      services: services ?? [{ name: 'orders', url: target.url }],
      ...options,
    });
    return clientOf(app, 'orders').axiosRef;
  };
  const errorOf = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as IdTokenFetchError,
    );
  const sent = (i = 0) => payloadOf(bearer(target.requests[i]!.headers)!);

  beforeEach(async () => {
    emu = await startEmulator({ serviceAccountEmail: 'runtime@proj.iam.gserviceaccount.com' });
    target = await startTarget();
    dir = mkdtempSync(join(tmpdir(), 'creds-'));
    process.env.GCE_METADATA_HOST = emu.metadataHost;
  });
  afterEach(async () => {
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.CLOUDSDK_CONFIG = savedConfigDir;
    await app?.close();
    app = undefined;
    await target.close();
    await emu.close();
  });

  describe('service_account key (GOOGLE_APPLICATION_CREDENTIALS)', () => {
    it("makes a JWT-bearer grant with target_audience at the key's token_uri", async () => {
      const key = emu.createServiceAccountKey(SA);
      process.env.GOOGLE_APPLICATION_CREDENTIALS = writeJson('key.json', key);
      const client = await boot();
      await Promise.all(Array.from({ length: 50 }, () => client.get('/o')));
      expect(target.requests).toHaveLength(50);
      expect(sent()).toMatchObject({ aud: target.url, email: SA, email_verified: true });
      const grants = emu.requests('/token');
      expect(grants).toHaveLength(1);
      expect(grants[0]!.method).toBe('POST');
      expect(grants[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const form = new URLSearchParams(grants[0]!.body);
      expect([...form.keys()].sort()).toEqual(['assertion', 'grant_type']);
      expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
      const [h, p, s] = form.get('assertion')!.split('.');
      const header = JSON.parse(Buffer.from(h!, 'base64url').toString());
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id });
      expect(claims).toMatchObject({ iss: SA, sub: SA, aud: emu.tokenUri, target_audience: target.url });
      expect(claims.exp - claims.iat).toBe(3600);
      expect(claims.scope).toBeUndefined();
      const publicKey = createPublicKey(key.private_key!);
      expect(verifySignature('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s!, 'base64url'))).toBe(true);
      expect(emu.requestCount('service-accounts/default/identity')).toBe(0);
    });

    it('one grant per audience per lifetime', async () => {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = writeJson('key.json', emu.createServiceAccountKey(SA));
      app = await createCallerApp({
        services: [
          { name: 'orders', url: target.url },
          { name: 'billing', url: target.url, audience: 'https://billing.example' },
        ],
      });
      for (let i = 0; i < 3; i++) {
        await clientOf(app, 'orders').axiosRef.get('/o');
        await clientOf(app, 'billing').axiosRef.get('/b');
      }
      const audiences = emu
        .requests('/token')
        .map((r) => payloadOf(new URLSearchParams(r.body).get('assertion')!).target_audience);
      expect(audiences.sort()).toEqual([target.url, 'https://billing.example'].sort());
    });

    it('keyFile and credentials options take precedence over the environment', async () => {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, 'missing.json');
      const client = await boot({ credentials: { credentials: emu.createServiceAccountKey(ORDERS_SA) } });
      await client.get('/o');
      expect(sent().email).toBe(ORDERS_SA);
    });

    it('a key the token endpoint rejects fails with the type, origin and status in the message', async () => {
      const key = { ...emu.createServiceAccountKey(SA), private_key_id: 'unknown-key' };
      const path = writeJson('key.json', key);
      const client = await boot({ credentials: { keyFile: path } });
      const error = await errorOf(client.get('/o'));
      expect(error).toBeInstanceOf(IdTokenFetchError);
      expect(error!.message).toContain(`service_account key (keyFile ${path})`);
      expect(error!.message).toContain('HTTP 400 (invalid_grant)');
      expect(error!.retryable).toBe(false);
      expect(emu.requestCount('/token')).toBe(1);
    });
  });

  describe('impersonated_service_account (gcloud ... --impersonate-service-account)', () => {
    const adcFile = (user: Record<string, string>, delegates: string[] = []) => ({
      type: 'impersonated_service_account',
      service_account_impersonation_url: `${emu.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
      delegates,
      source_credentials: user,
    });

    it('refreshes the user token, then calls generateIdToken with includeEmail and delegates', async () => {
      const user = emu.createUserCredentials('dev@example.com');
      process.env.CLOUDSDK_CONFIG = dir;
      writeJson('application_default_credentials.json', adcFile(user, ['hop@proj.iam.gserviceaccount.com']));
      const client = await boot();
      await Promise.all(Array.from({ length: 50 }, () => client.get('/o')));
      expect(sent()).toMatchObject({ aud: target.url, email: SA });

      const [refresh] = emu.requests('/token');
      expect(emu.requestCount('/token')).toBe(1);
      expect(Object.fromEntries(new URLSearchParams(refresh!.body))).toEqual({
        grant_type: 'refresh_token',
        client_id: user.client_id,
        client_secret: user.client_secret,
        refresh_token: user.refresh_token,
      });
      const calls = emu.requests(`/v1/projects/-/serviceAccounts/${SA}:generateIdToken`);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.headers['content-type']).toBe('application/json');
      const accessToken = String(calls[0]!.headers.authorization).replace(/^Bearer /, '');
      expect(emu.principalOf(accessToken)).toBe('dev@example.com');
      expect(JSON.parse(calls[0]!.body)).toEqual({
        audience: target.url,
        includeEmail: true,
        delegates: ['projects/-/serviceAccounts/hop@proj.iam.gserviceaccount.com'],
      });
    });
  });

  describe('external_account (workload identity federation)', () => {
    const federation = (withImpersonation: boolean) => ({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: emu.stsUrl,
      credential_source: { file: join(dir, 'subject-token.txt') },
      ...(withImpersonation
        ? {
            service_account_impersonation_url: `${emu.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
          }
        : {}),
    });

    it('exchanges the subject token at token_url, then generateIdToken with the federated token', async () => {
      writeFileSync(join(dir, 'subject-token.txt'), 'external-oidc-subject-token');
      process.env.GOOGLE_APPLICATION_CREDENTIALS = writeJson('wif.json', federation(true));
      const client = await boot();
      await Promise.all(Array.from({ length: 50 }, () => client.get('/o')));
      expect(sent()).toMatchObject({ aud: target.url, email: SA });
      const exchanges = emu.requests('/v1/token');
      expect(exchanges).toHaveLength(1);
      const form = Object.fromEntries(new URLSearchParams(exchanges[0]!.body));
      expect(form).toMatchObject({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: federation(true).audience,
        subject_token: 'external-oidc-subject-token',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      });
      const calls = emu.requests(`/v1/projects/-/serviceAccounts/${SA}:generateIdToken`);
      expect(calls).toHaveLength(1);
      const federated = String(calls[0]!.headers.authorization).replace(/^Bearer /, '');
      expect(emu.principalOf(federated)).toMatch(/^principal:\/\//);
      expect(JSON.parse(calls[0]!.body)).toMatchObject({ audience: target.url, includeEmail: true });
      expect(emu.requestCount(`${SA}:generateAccessToken`)).toBe(0);
    });

    it('without service_account_impersonation_url, explains what to configure', async () => {
      writeFileSync(join(dir, 'subject-token.txt'), 'external-oidc-subject-token');
      const path = writeJson('wif.json', federation(false));
      process.env.GOOGLE_APPLICATION_CREDENTIALS = path;
      const error = await errorOf((await boot()).get('/o'));
      expect(error).toBeInstanceOf(IdTokenFetchError);
      expect(error!.message).toContain(
        `external_account (workload identity federation) credentials (GOOGLE_APPLICATION_CREDENTIALS=${path})`,
      );
      expect(error!.message).toContain('service_account_impersonation_url');
      expect(error!.message).toContain('--service-account=SA_EMAIL');
      expect(target.requests).toHaveLength(0);
    });
  });

  describe('authorized_user (plain gcloud auth application-default login)', () => {
    it('refuses at first use with the impersonation command, naming the well-known file', async () => {
      process.env.CLOUDSDK_CONFIG = dir;
      writeJson('application_default_credentials.json', emu.createUserCredentials());
      const client = await boot();
      const error = await errorOf(client.get('/o'));
      expect(error).toBeInstanceOf(IdTokenFetchError);
      expect(error!.message).toContain(
        `authorized_user credentials (gcloud's well-known file ${join(dir, 'application_default_credentials.json')})`,
      );
      expect(error!.message).toContain('gcloud auth application-default login --impersonate-service-account=SA_EMAIL');
      expect(error!.retryable).toBe(false);
      expect(target.requests).toHaveLength(0);
      expect(emu.requestCount()).toBe(0);
    });

    it('is a valid source for the impersonate option', async () => {
      const client = await boot({
        credentials: {
          credentials: emu.createUserCredentials('dev@example.com'),
          impersonate: SA,
          iamCredentialsUrl: emu.iamCredentialsUrl,
        },
      });
      await client.get('/o');
      expect(sent().email).toBe(SA);
    });
  });

  describe('per-service impersonation from the metadata server', () => {
    it('calls each target as its own service account, with separate cache entries', async () => {
      const iam = { iamCredentialsUrl: emu.iamCredentialsUrl };
      app = await createCallerApp({
        credentials: iam,
        services: [
          { name: 'orders', url: `${target.url}/orders`, credentials: { impersonate: ORDERS_SA } },
          { name: 'billing', url: `${target.url}/billing`, credentials: { impersonate: BILLING_SA } },
          { name: 'plain', url: `${target.url}/plain` },
          { name: 'orders2', url: `${target.url}/orders2`, credentials: { impersonate: ORDERS_SA } },
        ],
      });
      for (const name of ['orders', 'billing', 'plain', 'orders2', 'orders', 'billing']) {
        await clientOf(app, name).axiosRef.get('/x');
      }
      const emails = target.requests.map((r) => [r.url, payloadOf(bearer(r.headers)!).email]);
      expect(emails).toEqual([
        ['/orders/x', ORDERS_SA],
        ['/billing/x', BILLING_SA],
        ['/plain/x', 'runtime@proj.iam.gserviceaccount.com'],
        ['/orders2/x', ORDERS_SA],
        ['/orders/x', ORDERS_SA],
        ['/billing/x', BILLING_SA],
      ]);
      expect(emu.requestCount(`${ORDERS_SA}:generateIdToken`)).toBe(1);
      expect(emu.requestCount(`${BILLING_SA}:generateIdToken`)).toBe(1);
      expect(emu.requestCount('service-accounts/default/token')).toBe(2);
      expect(emu.requestCount('service-accounts/default/identity')).toBe(1);
      const auth = emu.requests(`${ORDERS_SA}:generateIdToken`)[0]!.headers.authorization as string;
      expect(emu.principalOf(auth.slice(7))).toBe('runtime@proj.iam.gserviceaccount.com');
    });

    it('prefetch warms each identity with its own grant', async () => {
      app = await createCallerApp({
        prefetch: true,
        credentials: { iamCredentialsUrl: emu.iamCredentialsUrl },
        services: [
          { name: 'orders', url: target.url, credentials: { impersonate: ORDERS_SA } },
          { name: 'orders-again', url: target.url, credentials: { impersonate: ORDERS_SA } },
          { name: 'billing', url: target.url, credentials: { impersonate: BILLING_SA } },
        ],
      });
      expect(emu.requestCount(`${ORDERS_SA}:generateIdToken`)).toBe(1);
      expect(emu.requestCount(`${BILLING_SA}:generateIdToken`)).toBe(1);
      await clientOf(app, 'billing').axiosRef.get('/b');
      expect(sent().email).toBe(BILLING_SA);
      expect(emu.requestCount(`${ORDERS_SA}:generateIdToken`) + emu.requestCount(`${BILLING_SA}:generateIdToken`)).toBe(
        2,
      );
    });

    it('a denied impersonation names the source and the status', async () => {
      emu.fail(`${ORDERS_SA}:generateIdToken`, { mode: 'error', times: Infinity });
      const client = await boot({ credentials: { impersonate: ORDERS_SA, iamCredentialsUrl: emu.iamCredentialsUrl } });
      const error = await errorOf(client.get('/o'));
      expect(error!.message).toContain(`impersonation of ${ORDERS_SA} by metadata server at ${emu.metadataHost}`);
      expect(error!.message).toContain('HTTP 503');
    });
  });

  it.each([
    ['an unsupported type', { type: 'gdch_service_account' }, /type "gdch_service_account".*not supported/],
    ['a key without private_key', { type: 'service_account', client_email: SA }, /lacks private_key/],
  ])('%s fails with a message naming the type and where it came from', async (_what, json, message) => {
    const path = writeJson('odd.json', json);
    process.env.GOOGLE_APPLICATION_CREDENTIALS = path;
    const error = await errorOf((await boot()).get('/o'));
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect(error!.message).toMatch(message);
    expect(error!.message).toContain(`GOOGLE_APPLICATION_CREDENTIALS=${path}`);
  });

  it('a credentials file that is not JSON says so', async () => {
    writeFileSync(join(dir, 'bad.json'), 'not json');
    process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, 'bad.json');
    const error = await errorOf((await boot()).get('/o'));
    expect(error!.message).toMatch(/not a JSON object/);
  });
});
