import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { payloadOf } from './utils/tokens.js';
import { jsonOf, postForm, postJson, type WireReply } from './utils/wire.js';

/**
 * The OAuth token endpoint and IAM Credentials, checked against the requests client libraries
 * send. Written from their public source:
 * - Python google-auth 2.x: oauth2/service_account.py (aud is always https://oauth2.googleapis.com/token),
 *   jwt.encode (unpadded segments, json.dumps header {"typ", "alg", "kid"}), oauth2/_client.py
 *   (form body, error handling, call_iam_generate_id_token_endpoint with "true" strings),
 *   impersonated_credentials.py (generateAccessToken, IDTokenCredentials.refresh)
 * - Python google-auth 1.x: padded segments (base64.urlsafe_b64encode), aud = token_uri
 * - Go cloud.google.com/go/auth: 2LO token provider (aud = token_uri, kid), impersonate IDTokenOptions
 * - Node google-auth-library: gtoken (header {"alg":"RS256"} without kid, aud = Google's URL)
 */

const SA = 'key-holder@oauth-project.iam.gserviceaccount.com';
const TARGET = 'target@oauth-project.iam.gserviceaccount.com';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const PYTHON_IT = { 'x-goog-api-client': 'gl-python/3.12.3 auth/2.40.0 auth-request-type/it cred-type/sa' };

/** Python's json.dumps: ", " and ": " separators. */
const pyJson = (value: Record<string, unknown>) =>
  '{' +
  Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ') +
  '}';

interface AssertionOptions {
  /** Keep base64 padding, as google-auth 1.x does. */
  padded?: boolean;
  /** Header JSON exactly as sent. */
  headerJson?: string;
  payloadJson?: string;
  signWith?: KeyObject;
}

/** A JWT-bearer assertion signed with `key` (RS256 whatever the header says). */
function assertion(
  key: KeyObject,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  o: AssertionOptions = {},
) {
  const encode = (bytes: Buffer) => {
    const b64 = bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    return o.padded ? b64 : b64.replace(/=+$/, '');
  };
  const text = (json: string) => encode(Buffer.from(json));
  const input = `${text(o.headerJson ?? JSON.stringify(header))}.${text(o.payloadJson ?? JSON.stringify(claims))}`;
  return `${input}.${encode(sign('sha256', Buffer.from(input), o.signWith ?? key))}`;
}

describe('OAuth token endpoint conformance', () => {
  let emu: Emulator;
  let key: Record<string, string>;
  let privateKey: KeyObject;
  const now = () => Math.floor(Date.now() / 1000);
  const grant = (jwt: string, headers: Record<string, string> = {}) =>
    postForm(emu.url, '/token', { assertion: jwt, grant_type: JWT_BEARER }, headers);
  const claims = (overrides: Record<string, unknown> = {}) => ({
    iat: now(),
    exp: now() + 3600,
    iss: SA,
    aud: GOOGLE_TOKEN_URL,
    target_audience: 'https://orders.example.run.app',
    ...overrides,
  });
  const expectOAuthError = (reply: WireReply, status: number, error: string, description: RegExp | string) => {
    expect(reply.status, reply.body).toBe(status);
    expect(reply.headers['content-type']).toBe('application/json; charset=UTF-8');
    const json = jsonOf(reply);
    expect(Object.keys(json).sort()).toEqual(['error', 'error_description']);
    expect(json.error).toBe(error);
    if (typeof description === 'string') expect(json.error_description).toBe(description);
    else expect(json.error_description).toMatch(description);
    expect(reply.body).not.toContain('PRIVATE KEY');
    expect(reply.body).not.toMatch(/ey[A-Za-z0-9_-]{20,}/); // no token or assertion echoed
  };

  beforeAll(async () => {
    emu = await startEmulator();
    key = emu.createServiceAccountKey(SA);
    privateKey = createPrivateKey(key.private_key!);
  });
  afterAll(() => emu?.close());

  describe('JWT-bearer grant', () => {
    it('as current Python google-auth sends it (aud = Google URL, unpadded, json.dumps header): an ID token', async () => {
      const payload = claims();
      const jwt = assertion(
        privateKey,
        {},
        {},
        {
          headerJson: pyJson({ typ: 'JWT', alg: 'RS256', kid: key.private_key_id }),
          payloadJson: pyJson(payload),
        },
      );
      expect(jwt).not.toContain('=');
      const reply = await grant(jwt, PYTHON_IT);
      expect(reply.status, reply.body).toBe(200);
      const json = jsonOf(reply);
      expect(Object.keys(json)).toEqual(['id_token']);
      expect(payloadOf(json.id_token as string)).toMatchObject({
        aud: 'https://orders.example.run.app',
        email: SA,
        email_verified: true,
        iss: 'https://accounts.google.com',
      });
    });

    it('as Python google-auth 1.x sends it (padded segments, aud = token_uri)', async () => {
      const jwt = assertion(
        privateKey,
        { typ: 'JWT', alg: 'RS256', kid: key.private_key_id },
        claims({ aud: emu.tokenUri }),
        {
          padded: true,
        },
      );
      expect(jwt).toMatch(/=/);
      expect((await grant(jwt)).status).toBe(200);
    });

    it("as Go's 2LO sends it (sorted form, kid, empty scope, aud = token_uri)", async () => {
      const jwt = assertion(
        privateKey,
        { alg: 'RS256', typ: 'JWT', kid: key.private_key_id },
        {
          iss: SA,
          scope: '',
          aud: emu.tokenUri,
          exp: now() + 3590,
          iat: now() - 10,
          target_audience: 'https://go.example',
        },
      );
      const reply = await grant(jwt);
      expect(reply.status, reply.body).toBe(200);
      expect(payloadOf(jsonOf(reply).id_token as string)).toMatchObject({ aud: 'https://go.example', email: SA });
    });

    it("as Node's google-auth-library (gtoken) sends it: header without kid, scope grant → access token", async () => {
      const jwt = assertion(
        privateKey,
        { alg: 'RS256' },
        claims({ target_audience: undefined, scope: 'https://www.googleapis.com/auth/cloud-platform' }),
      );
      const reply = await grant(jwt);
      expect(reply.status, reply.body).toBe(200);
      const json = jsonOf(reply);
      expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(json.token_type).toBe('Bearer');
      expect(emu.principalOf(json.access_token as string)).toBe(SA);
    });

    it.each([
      GOOGLE_TOKEN_URL,
      'https://www.googleapis.com/oauth2/v4/token',
      'https://accounts.google.com/o/oauth2/token',
      'OWN',
    ])('accepts aud %s', async (aud) => {
      const jwt = assertion(
        privateKey,
        { alg: 'RS256', kid: key.private_key_id },
        claims({ aud: aud === 'OWN' ? emu.tokenUri : aud }),
      );
      expect((await grant(jwt)).status).toBe(200);
    });

    it('refuses another aud, saying it is the audience', async () => {
      const jwt = assertion(
        privateKey,
        { alg: 'RS256', kid: key.private_key_id },
        claims({ aud: 'https://evil.example/token' }),
      );
      expectOAuthError(
        await grant(jwt),
        400,
        'invalid_grant',
        /^Invalid JWT: Failed audience check\. The right audience is https:\/\/oauth2\.googleapis\.com\/token .*got "https:\/\/evil\.example\/token"\.$/,
      );
    });

    it('a signature by another key says "Invalid JWT Signature."', async () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      for (const header of [{ alg: 'RS256', kid: key.private_key_id }, { alg: 'RS256' }]) {
        const jwt = assertion(privateKey, header, claims(), { signWith: other });
        expectOAuthError(await grant(jwt), 400, 'invalid_grant', 'Invalid JWT Signature.');
      }
      // Padded the same way, still a bad signature (not a format error).
      const padded = assertion(privateKey, { alg: 'RS256', kid: key.private_key_id }, claims(), {
        signWith: other,
        padded: true,
      });
      expectOAuthError(await grant(padded), 400, 'invalid_grant', 'Invalid JWT Signature.');
    });

    it('a key id that is not a key of the issuer says so', async () => {
      const otherKey = emu.createServiceAccountKey('someone-else@oauth-project.iam.gserviceaccount.com');
      for (const kid of ['deleted-key-id', otherKey.private_key_id]) {
        const jwt = assertion(privateKey, { alg: 'RS256', kid }, claims());
        expectOAuthError(
          await grant(jwt),
          400,
          'invalid_grant',
          `Invalid JWT Signature: the key id in its header is not a key of ${SA}.`,
        );
      }
    });

    it.each([
      [
        'an account it never issued a key for',
        { iss: 'nobody@oauth-project.iam.gserviceaccount.com' },
        'invalid_grant',
        'Invalid grant: account not found',
      ],
      ['no iss', { iss: undefined }, 'invalid_grant', 'Invalid JWT: no iss claim (the service account email).'],
      [
        'a lifetime over an hour',
        { exp: now() + 7200 },
        'invalid_grant',
        /^Invalid JWT: Token must be a short-lived token \(60 minutes\)/,
      ],
      ['an expired assertion', { iat: now() - 7200, exp: now() - 3600 }, 'invalid_grant', /short-lived token/],
      ['an iat in the future', { iat: now() + 3600, exp: now() + 4000 }, 'invalid_grant', /short-lived token/],
      ['no iat', { iat: undefined }, 'invalid_grant', /short-lived token/],
      [
        'neither scope nor target_audience',
        { target_audience: undefined },
        'invalid_scope',
        'Empty or missing scope not allowed.',
      ],
      [
        'an empty scope',
        { target_audience: undefined, scope: ' ' },
        'invalid_scope',
        'Empty or missing scope not allowed.',
      ],
    ])('refuses %s', async (_what, overrides, error, description) => {
      const jwt = assertion(privateKey, { alg: 'RS256', kid: key.private_key_id }, claims(overrides));
      expectOAuthError(await grant(jwt), 400, error, description);
    });

    it('refuses an algorithm other than RS256', async () => {
      const jwt = assertion(privateKey, { alg: 'HS256', kid: key.private_key_id }, claims());
      expectOAuthError(
        await grant(jwt),
        400,
        'invalid_grant',
        'Invalid JWT: the signing algorithm must be RS256, got "HS256".',
      );
    });

    it.each([
      ['not a JWT', 'not-a-jwt'],
      ['two segments', 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0'],
      ['standard base64', 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0+.abc/'],
      ['a JSON array header', `${Buffer.from('[1]').toString('base64url')}.eyJpc3MiOiJ4In0.abc`],
    ])('refuses an assertion that is %s as malformed', async (_what, jwt) => {
      expectOAuthError(await grant(jwt), 400, 'invalid_grant', /^Invalid JWT: the assertion is not a compact JWS/);
    });

    it.each([
      [{ grant_type: JWT_BEARER }, 'invalid_request', 'Missing required parameter: assertion'],
      [{ assertion: 'x' }, 'invalid_request', 'Missing required parameter: grant_type'],
      [{ grant_type: 'client_credentials' }, 'unsupported_grant_type', 'Invalid grant_type: client_credentials'],
    ])('%j → %s', async (form, error, description) => {
      expectOAuthError(await postForm(emu.url, '/token', form), 400, error, description);
    });
  });

  describe('refresh-token grant (authorized_user credentials it created)', () => {
    it('as Python and Node send it: access token, scope, and a user ID token for the OAuth client', async () => {
      const user = emu.createUserCredentials('dev@example.com');
      const reply = await postForm(emu.url, '/token', {
        grant_type: 'refresh_token',
        client_id: user.client_id!,
        client_secret: user.client_secret!,
        refresh_token: user.refresh_token!,
      });
      expect(reply.status, reply.body).toBe(200);
      const json = jsonOf(reply);
      expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'scope', 'token_type']);
      expect(emu.principalOf(json.access_token as string)).toBe('dev@example.com');
      expect(json.scope).toContain('openid');
      expect(payloadOf(json.id_token as string)).toMatchObject({
        aud: user.client_id,
        azp: user.client_id,
        email: 'dev@example.com',
        email_verified: true,
      });
    });

    it.each([
      ['no client_id', { client_id: undefined }, 400, 'invalid_request', 'Could not determine client ID from request.'],
      [
        'another client',
        { client_id: 'other.apps.googleusercontent.com' },
        401,
        'invalid_client',
        'The OAuth client was not found.',
      ],
      ['a wrong secret', { client_secret: 'guess' }, 401, 'invalid_client', 'Unauthorized'],
      [
        'no refresh_token',
        { refresh_token: undefined },
        400,
        'invalid_request',
        'Missing required parameter: refresh_token',
      ],
      [
        'an unknown refresh_token',
        { refresh_token: '1//revoked' },
        400,
        'invalid_grant',
        'Token has been expired or revoked.',
      ],
    ])('refuses %s', async (_what, overrides, status, error, description) => {
      const user = emu.createUserCredentials();
      const form: Record<string, string | undefined> = {
        grant_type: 'refresh_token',
        client_id: user.client_id,
        client_secret: user.client_secret,
        refresh_token: user.refresh_token,
        ...overrides,
      };
      const defined = Object.fromEntries(Object.entries(form).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >;
      const reply = await postForm(emu.url, '/token', defined);
      expectOAuthError(reply, status, error, description);
      expect(reply.body).not.toContain(user.refresh_token);
    });
  });

  describe('STS', () => {
    it('refuses another grant type and missing parameters in the OAuth error shape', async () => {
      expectOAuthError(
        await postForm(emu.url, '/v1/token', { grant_type: 'x' }),
        400,
        'unsupported_grant_type',
        'Invalid grant_type: x',
      );
      expectOAuthError(
        await postForm(emu.url, '/v1/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' }),
        400,
        'invalid_request',
        'Missing required parameter: audience',
      );
    });
  });
});

describe('IAM Credentials conformance', () => {
  let emu: Emulator;
  let bearer: string;
  const idTokenPath = (account = TARGET) => `/v1/projects/-/serviceAccounts/${account}:generateIdToken`;
  const accessTokenPath = (account = TARGET) => `/v1/projects/-/serviceAccounts/${account}:generateAccessToken`;
  const expectApiError = (reply: WireReply, code: number, status: string, message: RegExp | string) => {
    expect(reply.status, reply.body).toBe(code);
    const json = jsonOf(reply) as { error: Record<string, unknown> };
    expect(Object.keys(json)).toEqual(['error']);
    expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'status']);
    expect(json.error).toMatchObject({ code, status });
    if (typeof message === 'string') expect(json.error.message).toBe(message);
    else expect(json.error.message).toMatch(message);
  };
  const idToken = async (body: unknown, headers: Record<string, string> = {}) => {
    const reply = await postJson(emu.url, idTokenPath(), body, bearer, headers);
    expect(reply.status, reply.body).toBe(200);
    const json = jsonOf(reply);
    expect(Object.keys(json)).toEqual(['token']);
    return payloadOf(json.token as string);
  };

  beforeAll(async () => {
    emu = await startEmulator();
    const user = emu.createUserCredentials('dev@example.com');
    const refreshed = await postForm(emu.url, '/token', {
      grant_type: 'refresh_token',
      client_id: user.client_id!,
      client_secret: user.client_secret!,
      refresh_token: user.refresh_token!,
    });
    bearer = jsonOf(refreshed).access_token as string;
  });
  afterAll(() => emu?.close());

  it("as Node's Impersonated.fetchIdToken sends it (includeEmail, useEmailAzp, delegates []): azp is the email", async () => {
    const claims = await idToken({
      delegates: [],
      audience: 'https://a.example',
      includeEmail: true,
      useEmailAzp: true,
    });
    expect(claims).toMatchObject({ aud: 'https://a.example', email: TARGET, email_verified: true, azp: TARGET });
    expect(claims.sub).toMatch(/^\d+$/);
  });

  it('without useEmailAzp, azp is the unique id (sub)', async () => {
    const claims = await idToken({ audience: 'https://a.example', includeEmail: true });
    expect(claims.azp).toBe(claims.sub);
    expect(claims.email).toBe(TARGET);
  });

  it("as Python's impersonated IDTokenCredentials sends it (json.dumps, delegates null, includeEmail false): no email", async () => {
    const body = pyJson({ audience: 'https://a.example', delegates: null, includeEmail: false });
    const claims = await idToken(body, {
      'x-goog-api-client': 'gl-python/3.12.3 auth/2.40.0 auth-request-type/it cred-type/imp',
    });
    expect(claims).not.toHaveProperty('email');
    expect(claims).not.toHaveProperty('email_verified');
    expect(claims.sub).toBe(claims.azp);
  });

  it("as Python's call_iam_generate_id_token_endpoint sends it (booleans as strings)", async () => {
    const claims = await idToken({ audience: 'https://a.example', includeEmail: 'true', useEmailAzp: 'true' });
    expect(claims).toMatchObject({ email: TARGET, azp: TARGET });
  });

  it("as Go's impersonate IDTokenOptions sends it (delegates as resource names)", async () => {
    const claims = await idToken({
      audience: 'https://go.example',
      includeEmail: true,
      delegates: ['projects/-/serviceAccounts/hop@oauth-project.iam.gserviceaccount.com'],
    });
    expect(claims).toMatchObject({ aud: 'https://go.example', email: TARGET });
  });

  it('accepts delegates as bare emails or unique ids (what gcloud writes into impersonation files)', async () => {
    await idToken({ audience: 'x', delegates: ['hop@oauth-project.iam.gserviceaccount.com', '123456789012345678901'] });
  });

  it.each([
    [{ audience: 'x', delegates: 'hop@x' }, /^Invalid value at 'delegates'/],
    [{ audience: 'x', delegates: [5] }, `Invalid value at 'delegates[0]' (TYPE_STRING), 5`],
    [
      { audience: 'x', delegates: ['projects/my-project/serviceAccounts/hop@x.iam.gserviceaccount.com'] },
      /must be the "-" wildcard/,
    ],
    [{ audience: 'x', delegates: ['not an account'] }, /^Invalid form of account ID not an account\./],
    [{ audience: 'x', includeEmail: 'yes' }, `Invalid value at 'include_email' (TYPE_BOOL), "yes"`],
    [{ audience: 'x', useEmailAzp: 1 }, `Invalid value at 'use_email_azp' (TYPE_BOOL), 1`],
    [
      { audience: 'x', lifetime: '3600s' },
      'Invalid JSON payload received. Unknown name "lifetime": Cannot find field.',
    ],
    [{}, 'Audience is required.'],
    [{ audience: '' }, 'Audience must be a non-empty string.'],
    ['{not json', 'Invalid JSON payload received. The request body is not a JSON object.'],
    ['[]', 'Invalid JSON payload received. The request body is not a JSON object.'],
  ])('generateIdToken refuses %j with 400 INVALID_ARGUMENT', async (body, message) => {
    expectApiError(await postJson(emu.url, idTokenPath(), body, bearer), 400, 'INVALID_ARGUMENT', message);
  });

  it('refuses a malformed account id in the resource name', async () => {
    const reply = await postJson(emu.url, idTokenPath('not-an-account'), { audience: 'x' }, bearer);
    expectApiError(reply, 400, 'INVALID_ARGUMENT', /^Invalid form of account ID not-an-account\. Should be/);
  });

  it.each([
    ['no Authorization', undefined],
    ['a token it never issued', 'ya29.made-up'],
  ])('answers 401 UNAUTHENTICATED to %s', async (_what, token) => {
    const reply = await postJson(
      emu.url,
      idTokenPath(),
      { audience: 'x' },
      token ?? '',
      token ? {} : { Authorization: '' },
    );
    expectApiError(reply, 401, 'UNAUTHENTICATED', /^Request had invalid authentication credentials\./);
  });

  describe('generateAccessToken', () => {
    it('as Python and Node send it (delegates, scope, lifetime "3600s"): expireTime without fractions', async () => {
      const body = pyJson({
        delegates: null,
        scope: ['https://www.googleapis.com/auth/cloud-platform'],
        lifetime: '3600s',
      });
      const reply = await postJson(emu.url, accessTokenPath(), body, bearer);
      expect(reply.status, reply.body).toBe(200);
      const json = jsonOf(reply);
      expect(Object.keys(json).sort()).toEqual(['accessToken', 'expireTime']);
      expect(json.expireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/); // Python parses it with %Y-%m-%dT%H:%M:%SZ
      expect(Date.parse(json.expireTime as string) - Date.now()).toBeGreaterThan(3590_000);
      expect(emu.principalOf(json.accessToken as string)).toBe(TARGET);
    });

    it('honours a shorter lifetime', async () => {
      const json = jsonOf(await postJson(emu.url, accessTokenPath(), { scope: ['s'], lifetime: '300s' }, bearer));
      const left = Date.parse(json.expireTime as string) - Date.now();
      expect(left).toBeGreaterThan(290_000);
      expect(left).toBeLessThanOrEqual(300_000);
    });

    it.each([
      [{ scope: [] }, 'Scope required.'],
      [{ scope: ['s'], lifetime: '7200s' }, 'The lifetime must be between 1s and 3600s, got 7200s.'],
      [{ scope: ['s'], lifetime: 'an hour' }, /^Invalid value at 'lifetime'/],
      [{ scope: ['s'], audience: 'x' }, 'Invalid JSON payload received. Unknown name "audience": Cannot find field.'],
    ])('refuses %j', async (body, message) => {
      expectApiError(await postJson(emu.url, accessTokenPath(), body, bearer), 400, 'INVALID_ARGUMENT', message);
    });
  });
});
