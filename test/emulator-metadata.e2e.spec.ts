import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { payloadOf } from './utils/tokens.js';
import { wire, type WireReply } from './utils/wire.js';

/**
 * The metadata server as GCE / Cloud Run serve it, checked request by request. The requests in
 * the "as X sends it" tests are written from the clients' public source:
 * - Python google-auth: compute_engine/_metadata.py (ping, get, get_service_account_info),
 *   compute_engine/credentials.py (IDTokenCredentials._call_metadata_identity_endpoint)
 * - Go: cloud.google.com/go/compute/metadata (OnGCE probe, getETag), auth/credentials/idtoken/compute.go
 * - Node: google-auth-library Compute.fetchIdToken and gcp-metadata (covered with the real client
 *   in google-auth-library.e2e.spec.ts)
 */

const EMAIL = 'runtime@metadata-project.iam.gserviceaccount.com';
const SA = '/computeMetadata/v1/instance/service-accounts';
const FLAVOR = { 'Metadata-Flavor': 'Google' };
const PYTHON_MDS = {
  'metadata-flavor': 'Google',
  'x-goog-api-client': 'gl-python/3.12.3 auth/2.40.0 auth-request-type/mds',
};
const GO = { 'Metadata-Flavor': 'Google', 'User-Agent': 'gcloud-golang/0.1' };

describe('metadata server conformance', () => {
  let emu: Emulator;
  let jwks: { keys: (JsonWebKey & { kid: string })[] };
  const get = (path: string, headers: Record<string, string> = FLAVOR) => wire(emu.url, 'GET', path, headers);
  const expectMetadata = (reply: WireReply, status: number, type?: string) => {
    expect(reply.status, reply.body).toBe(status);
    expect(reply.headers['metadata-flavor']).toBe('Google');
    if (type) expect(reply.headers['content-type']).toBe(type);
  };
  /** Verifies an ID token against the emulator's JWKS; returns its claims. */
  const verified = (token: string) => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const { kid } = JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string };
    const key = createPublicKey({ key: jwks.keys.find((k) => k.kid === kid)!, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))).toBe(true);
    return payloadOf(token);
  };

  beforeAll(async () => {
    emu = await startEmulator({
      serviceAccountEmail: EMAIL,
      projectId: 'metadata-project',
      projectNumber: '987654321098',
      region: 'europe-west1',
    });
    jwks = (await (await fetch(emu.certsUrl)).json()) as typeof jwks;
  });
  afterAll(() => emu?.close());

  describe('directories', () => {
    it('GET / answers 200 with Metadata-Flavor: Google even without the request header (Go probe)', async () => {
      const reply = await get('/', { 'User-Agent': 'gcloud-golang/0.1' });
      expectMetadata(reply, 200, 'application/text');
      expect(reply.body).toBe('computeMetadata/\n');
    });

    it("GET / as Python's ping sends it (GCE_METADATA_IP) answers 200 with the flavor header", async () => {
      expectMetadata(await get('/', PYTHON_MDS), 200);
    });

    it.each([
      ['/computeMetadata/', 'v1/\n'],
      ['/computeMetadata/v1/', 'instance/\nproject/\nuniverse/\n'],
      ['/computeMetadata/v1/instance/', 'id\nregion\nservice-accounts/\nzone\n'],
      [`${SA}/`, `default/\n${EMAIL}/\n`],
      [`${SA}/default/`, 'aliases\nemail\nidentity\nscopes\ntoken\n'],
      ['/computeMetadata/v1/project/', 'numeric-project-id\nproject-id\n'],
    ])('lists %s', async (path, listing) => {
      const reply = await get(path);
      expectMetadata(reply, 200, 'application/text');
      expect(reply.body).toBe(listing);
      expect(reply.headers.etag).toMatch(/^[0-9a-f]{16}$/);
    });

    it.each(['/computeMetadata', '/computeMetadata/v1', '/computeMetadata/v1/instance', `${SA}/default`])(
      'redirects %s to the directory (301, query kept)',
      async (path) => {
        const reply = await get(`${path}?alt=text`);
        expectMetadata(reply, 301);
        expect(reply.headers.location).toBe(`${path}/?alt=text`);
      },
    );

    it('returns a directory as JSON with ?recursive=true (application/json exactly, as google-auth 1.x compares it)', async () => {
      const info = { aliases: ['default'], email: EMAIL, scopes: ['https://www.googleapis.com/auth/cloud-platform'] };
      for (const path of [
        `${SA}/default/?recursive=true`,
        `${SA}/${EMAIL}/?recursive=true`,
        `${SA}/default?recursive=true`,
      ]) {
        const reply = await get(path, PYTHON_MDS);
        expectMetadata(reply, 200, 'application/json');
        expect(JSON.parse(reply.body)).toEqual(info);
      }
      expect(JSON.parse((await get(`${SA}/?recursive=true`)).body)).toEqual({ default: info, [EMAIL]: info });
      expect(JSON.parse((await get('/computeMetadata/v1/project/?recursive=true')).body)).toEqual({
        numericProjectId: 987654321098,
        projectId: 'metadata-project',
      });
    });

    it('returns recursive output as "path value" lines with ?alt=text', async () => {
      const reply = await get(`${SA}/default/?recursive=true&alt=text`);
      expectMetadata(reply, 200, 'application/text');
      expect(reply.body).toBe(
        `aliases/0 default\nemail ${EMAIL}\nscopes/0 https://www.googleapis.com/auth/cloud-platform\n`,
      );
    });
  });

  describe('values', () => {
    it.each([
      [`${SA}/default/email`, EMAIL],
      [`${SA}/${EMAIL}/email`, EMAIL],
      [`${SA}/default/aliases`, 'default\n'],
      [`${SA}/default/scopes`, 'https://www.googleapis.com/auth/cloud-platform\n'],
      ['/computeMetadata/v1/project/project-id', 'metadata-project'],
      ['/computeMetadata/v1/project/numeric-project-id', '987654321098'],
      ['/computeMetadata/v1/instance/zone', 'projects/987654321098/zones/europe-west1-1'],
      ['/computeMetadata/v1/instance/region', 'projects/987654321098/regions/europe-west1'],
      ['/computeMetadata/v1/universe/universe-domain', 'googleapis.com'],
    ])('%s is %j', async (path, value) => {
      const reply = await get(path, GO);
      expectMetadata(reply, 200, 'application/text');
      expect(reply.body).toBe(value);
    });

    it('instance/id is a Cloud Run style hex id, stable for the emulator', async () => {
      const { body } = await get('/computeMetadata/v1/instance/id');
      expect(body).toMatch(/^00[0-9a-f]{62}$/);
      expect((await get('/computeMetadata/v1/instance/id')).body).toBe(body);
    });

    it.each([
      [`${SA}/default/email`, EMAIL],
      [`${SA}/default/scopes`, ['https://www.googleapis.com/auth/cloud-platform']],
      ['/computeMetadata/v1/project/numeric-project-id', 987654321098],
    ])('%s?alt=json is JSON', async (path, value) => {
      const reply = await get(`${path}?alt=json`);
      expectMetadata(reply, 200, 'application/json');
      expect(JSON.parse(reply.body)).toEqual(value);
    });
  });

  describe('token', () => {
    it('serves an access token of the account as JSON; ?scopes= is accepted', async () => {
      for (const path of [
        `${SA}/default/token`,
        `${SA}/${EMAIL}/token?scopes=https://www.googleapis.com/auth/iam,openid`,
      ]) {
        const reply = await get(path, PYTHON_MDS);
        expectMetadata(reply, 200, 'application/json');
        const json = JSON.parse(reply.body);
        expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
        expect(json.token_type).toBe('Bearer');
        expect(json.expires_in).toBeGreaterThan(3000);
        expect(json.expires_in).toBeLessThan(3600);
        expect(emu.principalOf(json.access_token)).toBe(EMAIL);
      }
    });

    it('?alt=text gives "name value" lines', async () => {
      const reply = await get(`${SA}/default/token?alt=text`);
      expect(reply.headers['content-type']).toBe('application/text');
      expect(reply.body).toMatch(/^access_token ya29\.\S+\nexpires_in \d+\ntoken_type Bearer\n$/);
    });
  });

  describe('identity', () => {
    const audience = 'https://orders-123.europe-west1.run.app/path?x=1';

    it('standard format: aud, azp, sub, iss, iat, exp, no email', async () => {
      const reply = await get(`${SA}/default/identity?audience=${encodeURIComponent(audience)}`);
      expectMetadata(reply, 200, 'application/text');
      const claims = verified(reply.body);
      expect(Object.keys(claims).sort()).toEqual(['aud', 'azp', 'exp', 'iat', 'iss', 'sub']);
      expect(claims).toMatchObject({ aud: audience, iss: 'https://accounts.google.com' });
      expect(claims.azp).toBe(claims.sub);
      expect(claims.sub).toMatch(/^\d{1,21}$/);
    });

    it('full format as Python sends it adds email and email_verified', async () => {
      const reply = await get(
        `${SA}/default/identity?audience=${encodeURIComponent(audience)}&format=full`,
        PYTHON_MDS,
      );
      expect(verified(reply.body)).toMatchObject({ aud: audience, email: EMAIL, email_verified: true });
    });

    it("as Go's idtoken sends it (url.Values order, licenses=TRUE), for the account by email too", async () => {
      const query = `audience=${encodeURIComponent(audience)}&format=full&licenses=TRUE`;
      for (const account of ['default', encodeURIComponent(EMAIL)]) {
        const reply = await get(`${SA}/${account}/identity?${query}`, GO);
        expectMetadata(reply, 200);
        expect(verified(reply.body)).toMatchObject({ aud: audience, email: EMAIL });
      }
    });

    it("as Node's Compute.fetchIdToken sends it (audience not encoded)", async () => {
      const reply = await get(`${SA}/default/identity?format=full&audience=https://orders.example`);
      expect(verified(reply.body)).toMatchObject({ aud: 'https://orders.example', email: EMAIL });
    });

    it.each([
      ['', 'non-empty audience parameter required'],
      ['?audience=', 'non-empty audience parameter required'],
      ['?audience=x&format=compact', 'format must be "standard" or "full"'],
      ['?audience=x&format=full&licenses=yes', 'licenses must be "TRUE" or "FALSE"'],
    ])('answers 400 to identity%s', async (query, message) => {
      const reply = await get(`${SA}/default/identity${query}`);
      expectMetadata(reply, 400);
      expect(reply.body).toBe(`${message}\n`);
    });
  });

  describe('errors', () => {
    it.each(['/computeMetadata/', '/computeMetadata/v1/project/project-id', `${SA}/default/identity?audience=x`])(
      '403 for %s without Metadata-Flavor: Google, with another value, or through a proxy',
      async (path) => {
        const variants: Record<string, string>[] = [
          {},
          { 'Metadata-Flavor': 'google' },
          { ...FLAVOR, 'X-Forwarded-For': '203.0.113.9' },
        ];
        for (const headers of variants) {
          const reply = await get(path, headers);
          expectMetadata(reply, 403);
          expect(reply.body).not.toMatch(/ey[A-Za-z0-9_-]{10,}/);
        }
        expect((await get(path, {})).body).toContain('Missing Metadata-Flavor:Google header.');
      },
    );

    it.each([
      '/computeMetadata/v2/',
      '/computeMetadata/v1/instance/hostname',
      `${SA}/someone-else@x.iam.gserviceaccount.com/email`,
      `${SA}/default/email/`,
      `${SA}/default/identity/?audience=x`,
      '/computeMetadata/v1/instance/__proto__/',
      '/computeMetadata/v1/instance/%E0%A4%A/',
    ])('404 for %s', async (path) => {
      expectMetadata(await get(path), 404);
    });

    it('HEAD has the headers and no body; other methods get 405', async () => {
      const head = await wire(emu.url, 'HEAD', `${SA}/default/email`, FLAVOR);
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      expect((await wire(emu.url, 'PUT', `${SA}/default/email`, FLAVOR)).status).toBe(405);
    });
  });
});

describe('metadata server options', () => {
  it('defaults: emulator-project, 123456789012, us-central1', async () => {
    const emu = await startEmulator();
    try {
      const value = async (path: string) => (await wire(emu.url, 'GET', `/computeMetadata/v1/${path}`, FLAVOR)).body;
      expect(await value('project/numeric-project-id')).toBe('123456789012');
      expect(await value('instance/region')).toBe('projects/123456789012/regions/us-central1');
    } finally {
      await emu.close();
    }
  });

  it.each([
    [{ projectNumber: '0123' }, /projectNumber/],
    [{ projectNumber: 'abc' }, /projectNumber/],
    [{ region: 'Mars' }, /region/],
  ])('refuses %j', async (options, message) => {
    await expect(startEmulator(options)).rejects.toThrow(message);
  });
});
