import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { IdTokenFetchError } from '../lib/index.js';
import { fetchMetadataIdToken, metadataHostFromEnv, metadataUrl } from '../lib/outbound/credentials/metadata.client.js';
import { restoreEnvAfterEach } from './utils/env.js';

// The gcp-metadata google-auth-library itself uses (its own copy when the versions differ).
const requireFromGal = createRequire(createRequire(import.meta.url).resolve('google-auth-library'));
const gcpMetadata = requireFromGal('gcp-metadata') as {
  instance(property: string): Promise<unknown>;
};

describe('metadata server address from the environment: the same as google-auth-library (gcp-metadata)', () => {
  let a: Emulator;
  let b: Emulator;
  restoreEnvAfterEach(['GCE_METADATA_HOST', 'GCE_METADATA_IP']);
  const portOf = (emu: Emulator) => new URL(emu.url).port;

  beforeAll(async () => {
    a = await startEmulator({ serviceAccountEmail: 'a@p.iam.gserviceaccount.com' });
    b = await startEmulator({ serviceAccountEmail: 'b@p.iam.gserviceaccount.com' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it.each([
    ['GCE_METADATA_HOST only', { host: 'A' }, 'a'],
    ['GCE_METADATA_IP only', { ip: 'B' }, 'b'],
    ['both: GCE_METADATA_IP wins', { host: 'A', ip: 'B' }, 'b'],
    ['an empty GCE_METADATA_IP counts as unset', { host: 'A', ip: '' }, 'a'],
    ['an empty GCE_METADATA_HOST counts as unset', { host: '', ip: 'B' }, 'b'],
    ['a URL with a scheme', { host: 'http://127.0.0.1:PORT_A' }, 'a'],
    ['a URL with a path (replaced)', { host: 'http://127.0.0.1:PORT_A/some/prefix/' }, 'a'],
    ['localhost', { host: 'localhost:PORT_A' }, 'a'],
  ])('%s', async (_what, env, expected) => {
    const value = (v: string) =>
      v === 'A' ? a.metadataHost : v === 'B' ? b.metadataHost : v.replace('PORT_A', portOf(a));
    delete process.env.GCE_METADATA_HOST;
    delete process.env.GCE_METADATA_IP;
    if ('host' in env) process.env.GCE_METADATA_HOST = value(env.host!);
    if ('ip' in env) process.env.GCE_METADATA_IP = value(env.ip!);
    const want = expected === 'a' ? a : b;

    const byGoogle = await gcpMetadata.instance('service-accounts/default/email');
    expect(byGoogle).toBe(want.serviceAccountEmail);

    a.reset();
    b.reset();
    const token = await fetchMetadataIdToken(metadataHostFromEnv(process.env), 'https://x.example');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { email: string };
    expect(claims.email).toBe(want.serviceAccountEmail);
    expect(want.requestCount('service-accounts/default/identity')).toBe(1);
    expect((want === a ? b : a).requestCount()).toBe(0);
  });

  it('defaults to 169.254.169.254', () => {
    expect(metadataHostFromEnv({})).toBe('169.254.169.254');
    expect(metadataHostFromEnv({ GCE_METADATA_HOST: '', GCE_METADATA_IP: '' })).toBe('169.254.169.254');
  });

  it.each([
    ['127.0.0.1:8090', 'http://127.0.0.1:8090/computeMetadata/v1/x'],
    ['metadata.google.internal', 'http://metadata.google.internal/computeMetadata/v1/x'],
    ['http://127.0.0.1:8090', 'http://127.0.0.1:8090/computeMetadata/v1/x'],
    ['https://mds.example:8443/ignored', 'https://mds.example:8443/computeMetadata/v1/x'],
    ['[::1]:8090', 'http://[::1]:8090/computeMetadata/v1/x'],
  ])('metadataUrl(%j)', (host, url) => {
    expect(metadataUrl(host, 'x')).toBe(url);
  });

  it('a value that is no host says so, without retrying', async () => {
    const error = await fetchMetadataIdToken('bad host:x', 'https://x.example').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdTokenFetchError);
    expect((error as IdTokenFetchError).message).toContain('metadata server address bad host:x is not a host or URL');
    expect((error as IdTokenFetchError).retryable).toBe(false);
  });
});
