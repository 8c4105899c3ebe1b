import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { IdTokenFetchError } from '../lib/index.js';
import { sourceFromJson } from '../lib/outbound/credentials/credential-source.factory.js';
import { startTarget, type Target } from './utils/target.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';

const SA = 'caller@proj.iam.gserviceaccount.com';
const INSECURE = 'must be an https: URL; plain http is only allowed to loopback';
const SA_LABEL = 'service_account key';
const USER_LABEL = 'authorized_user credentials';
const WIF_LABEL = 'external_account (workload identity federation) credentials';
const IMPERSONATED_LABEL = 'impersonated_service_account credentials';

describe('endpoints named in credentials files', () => {
  let emu: Emulator;
  let target: Target;
  let app: INestApplication | undefined;
  let dir: string;

  const impersonationUrl = (base: string) => `${base}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`;
  const federation = (overrides: Record<string, unknown> = {}) => ({
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: emu.stsUrl,
    credential_source: { file: join(dir, 'subject-token.txt') },
    service_account_impersonation_url: impersonationUrl(emu.iamCredentialsUrl),
    ...overrides,
  });
  const impersonated = (source: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
    type: 'impersonated_service_account',
    service_account_impersonation_url: impersonationUrl(emu.iamCredentialsUrl),
    delegates: [],
    source_credentials: source,
    ...overrides,
  });
  /** Per case: a credentials file whose only insecure endpoint is `field`, and how its error names the file. */
  const cases: Array<[string, string, () => { json: Record<string, unknown>; label: (origin: string) => string }]> = [
    [
      'service_account token_uri',
      'token_uri',
      () => ({
        json: { ...emu.createServiceAccountKey(SA), token_uri: 'http://oauth2.example.com/token' },
        label: (o) => `${SA_LABEL} (${o})`,
      }),
    ],
    [
      'authorized_user token_uri',
      'token_uri',
      () => ({
        json: { ...emu.createUserCredentials(), token_uri: 'http://oauth2.example.com/token' },
        label: (o) => `${USER_LABEL} (${o})`,
      }),
    ],
    [
      'external_account token_url',
      'token_url',
      () => ({
        json: federation({ token_url: 'http://sts-user:sts-password@sts.example.com/v1/token' }),
        label: (o) => `${WIF_LABEL} (${o})`,
      }),
    ],
    [
      'external_account service_account_impersonation_url',
      'service_account_impersonation_url',
      () => ({
        json: federation({ service_account_impersonation_url: impersonationUrl('http://iamcredentials.example.com') }),
        label: (o) => `${WIF_LABEL} (${o})`,
      }),
    ],
    [
      'external_account credential_source.url',
      'credential_source.url',
      () => ({
        json: federation({
          credential_source: { url: 'http://idp.example.com/token?secret=s3cr3t', headers: { Metadata: 'True' } },
        }),
        label: (o) => `${WIF_LABEL} (${o})`,
      }),
    ],
    [
      'impersonated_service_account service_account_impersonation_url',
      'service_account_impersonation_url',
      () => ({
        json: impersonated(emu.createUserCredentials(), {
          service_account_impersonation_url: impersonationUrl('http://iamcredentials.example.com'),
        }),
        label: (o) => `${IMPERSONATED_LABEL} (${o})`,
      }),
    ],
    [
      'token_uri of its source_credentials',
      'token_uri',
      () => ({
        json: impersonated({ ...emu.createUserCredentials(), token_uri: 'http://oauth2.example.com/token' }),
        label: (o) => `${USER_LABEL} (source_credentials of ${o})`,
      }),
    ],
    [
      'token_uri two source_credentials deep',
      'token_uri',
      () => ({
        json: impersonated(
          impersonated({
            ...emu.createServiceAccountKey('hop@proj.iam.gserviceaccount.com'),
            token_uri: 'http://[::2]/t',
          }),
        ),
        label: (o) => `${SA_LABEL} (source_credentials of source_credentials of ${o})`,
      }),
    ],
  ];

  beforeEach(async () => {
    emu = await startEmulator();
    target = await startTarget();
    dir = mkdtempSync(join(tmpdir(), 'creds-'));
    writeFileSync(join(dir, 'subject-token.txt'), 'external-oidc-subject-token');
    process.env.GCE_METADATA_HOST = emu.metadataHost;
  });
  afterEach(async () => {
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    await app?.close();
    app = undefined;
    await target.close();
    await emu.close();
  });

  it.each(cases)('refuses plain http to a network host in %s before any request', async (_what, field, make) => {
    const { json, label } = make();
    const path = join(dir, 'credentials.json');
    writeFileSync(path, JSON.stringify(json));
    process.env.GOOGLE_APPLICATION_CREDENTIALS = path;
    app = await createCallerApp({
      tokenCache: { initialBackoffMs: 10, deadlineMs: 500 },
      services: [{ name: 'orders', url: target.url }],
    });
    const error = await clientOf(app, 'orders')
      .axiosRef.get('/o')
      .then(
        () => undefined,
        (e: unknown) => e as IdTokenFetchError,
      );
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect(error!.message).toContain(`${field} of ${label(`GOOGLE_APPLICATION_CREDENTIALS=${path}`)} ${INSECURE}`);
    expect(error!.retryable).toBe(false);
    const secrets = JSON.stringify(json).match(/(?<="(private_key|client_secret|refresh_token)":")[^"]+/g) ?? [];
    for (const secret of [...secrets, 'sts-password', 's3cr3t']) expect(error!.message).not.toContain(secret);
    expect(emu.requestCount()).toBe(0);
    expect(target.requests).toHaveLength(0);
  });

  it('names the field, the origin and the host, and nothing else of the URL', () => {
    const json = { ...emu.createServiceAccountKey(SA), token_uri: 'http://oauth2.example.com/token' };
    expect(() => sourceFromJson(json, 'the credentials option')).toThrow(
      `token_uri of ${SA_LABEL} (the credentials option) ${INSECURE} (localhost, 127.0.0.1, ::1), got host oauth2.example.com`,
    );
  });

  it.each([
    ['an https endpoint', { token_url: 'https://sts.googleapis.com/v1/token' }],
    ['loopback', { token_url: 'http://localhost:8080/v1/token' }],
    [
      'the instance metadata address in credential_source.url (AWS, Azure)',
      { credential_source: { url: 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01' } },
    ],
    ['the AWS IPv6 instance metadata address', { credential_source: { url: 'http://[fd00:ec2::254]/latest' } }],
  ])('accepts %s', (_what, overrides) => {
    expect(sourceFromJson(federation(overrides), 'test').description).toContain(WIF_LABEL);
  });

  it.each([
    ['token_url', 'http://169.254.169.254/v1/token'],
    ['credential_source.url', 'http://169.254.169.254.nip.io/token'],
    ['credential_source.url', 'ftp://idp.example.com/token'],
  ])('refuses %s %s', (field, url) => {
    const overrides = field === 'token_url' ? { token_url: url } : { credential_source: { url } };
    expect(() => sourceFromJson(federation(overrides), 'test')).toThrow(`${field} of ${WIF_LABEL} (test) must be`);
  });
});
