import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Compute,
  GoogleAuth,
  Impersonated,
  JWT,
  OAuth2Client,
  UserRefreshClient,
  type AuthClient,
} from 'google-auth-library';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { payloadOf } from './utils/tokens.js';
import { restoreEnvAfterEach } from './utils/env.js';

/**
 * google-auth-library (the Node client) against the emulator, through every flow whose endpoints
 * it lets you point somewhere else; then a Nest app behind CloudRunAuthGuard accepts the tokens.
 *
 * - metadata server: GoogleAuth/Compute read GCE_METADATA_HOST (or GCE_METADATA_IP)
 * - service-account key (JWT): token endpoint hard-coded to https://oauth2.googleapis.com/token,
 *   whatever token_uri says; reachable only through the client's transporter, which these tests
 *   redirect (the emulator accepts assertions whose aud is Google's URL, as Google does)
 * - authorized_user (UserRefreshClient): `endpoints.oauth2TokenUrl`
 * - Impersonated: `endpoint` (an impersonated_service_account credentials file cannot set it)
 * - OAuth2Client.verifyIdToken: `endpoints.oauth2FederatedSignonPemCertsUrl` (X.509 PEMs)
 */

const RUNTIME = 'runtime@gal-project.iam.gserviceaccount.com';
const KEY_SA = 'key-holder@gal-project.iam.gserviceaccount.com';
const TARGET = 'target@gal-project.iam.gserviceaccount.com';
const USER = 'dev@example.com';
const AUDIENCE = 'https://orders-123.europe-west1.run.app';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

/** Sends what the client would send to Google's token endpoint to the emulator instead. */
function redirectGoogleTokenEndpoint(client: AuthClient, emu: Emulator) {
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      const url = config.url instanceof URL ? config.url : new URL(String(config.url));
      if (url.origin === 'https://oauth2.googleapis.com') config.url = new URL(emu.tokenUri);
      return config;
    },
  });
}

describe('google-auth-library against the emulator', () => {
  let emu: Emulator;
  let guarded: GuardedApp;
  const obtained: { flow: string; token: string }[] = [];
  restoreEnvAfterEach(['GCE_METADATA_HOST', 'GCE_METADATA_IP']);
  const keep = (flow: string, token: string | null | undefined) => {
    expect(token, flow).toMatch(/^ey[\w-]+\.ey[\w-]+\.[\w-]+$/);
    obtained.push({ flow, token: token! });
    return payloadOf(token!);
  };

  beforeAll(async () => {
    emu = await startEmulator({ serviceAccountEmail: RUNTIME, projectId: 'gal-project' });
    guarded = await startGuardedApp('express', {
      inbound: {
        audience: [AUDIENCE, '764086051850-emulator.apps.googleusercontent.com'],
        allowedCallers: [RUNTIME, KEY_SA, TARGET, USER],
        certsUrl: emu.certsUrl,
      },
    });
  });
  afterAll(async () => {
    await guarded?.close();
    await emu?.close();
  });

  describe('metadata server', () => {
    it.each([
      ['GCE_METADATA_HOST=host:port', () => ({ GCE_METADATA_HOST: emu.metadataHost })],
      ['GCE_METADATA_HOST=http://host:port', () => ({ GCE_METADATA_HOST: emu.url })],
      ['GCE_METADATA_IP=host:port', () => ({ GCE_METADATA_IP: emu.metadataHost })],
    ])(
      'GoogleAuth.getIdTokenClient with %s: an ID token with email, the project and the account',
      async (_what, env) => {
        delete process.env.GCE_METADATA_HOST;
        Object.assign(process.env, env());
        emu.reset();
        const auth = new GoogleAuth();
        const client = await auth.getIdTokenClient(AUDIENCE);
        const headers = await client.getRequestHeaders();
        const claims = keep('GoogleAuth metadata', headers.get('authorization')?.replace(/^Bearer /, ''));
        expect(claims).toMatchObject({ aud: AUDIENCE, email: RUNTIME, email_verified: true });
        expect(await auth.getProjectId()).toBe('gal-project');
        expect((await auth.getCredentials()).client_email).toBe(RUNTIME);
        const identity = emu.requests('service-accounts/default/identity');
        expect(identity.length).toBeGreaterThan(0);
        expect(identity[0]!.query).toMatchObject({ format: 'full', audience: AUDIENCE });
      },
    );

    it('Compute: fetchIdToken, and an access token with the scopes asked for', async () => {
      process.env.GCE_METADATA_HOST = emu.metadataHost;
      emu.reset();
      const compute = new Compute({ scopes: [CLOUD_PLATFORM, 'openid'] });
      keep('Compute.fetchIdToken', await compute.fetchIdToken(AUDIENCE));
      const { token } = await compute.getAccessToken();
      expect(emu.principalOf(token!)).toBe(RUNTIME);
      expect(emu.requests('service-accounts/default/token')[0]!.query).toEqual({ scopes: `${CLOUD_PLATFORM},openid` });
    });
  });

  describe('service-account key (JWT), token endpoint redirected through the transporter', () => {
    it('fetchIdToken and getAccessToken: assertions signed for Google’s URL, accepted', async () => {
      const key = emu.createServiceAccountKey(KEY_SA);
      const jwt = new JWT({ email: key.client_email, key: key.private_key, scopes: [CLOUD_PLATFORM] });
      redirectGoogleTokenEndpoint(jwt, emu);
      emu.reset();
      expect(keep('JWT.fetchIdToken', await jwt.fetchIdToken(AUDIENCE))).toMatchObject({
        aud: AUDIENCE,
        email: KEY_SA,
      });
      const { token } = await jwt.getAccessToken();
      expect(emu.principalOf(token!)).toBe(KEY_SA);
      const grants = emu.requests('/token').map((r) => payloadOf(new URLSearchParams(r.body).get('assertion')!));
      expect(grants.map((c) => c.aud)).toEqual([
        'https://oauth2.googleapis.com/token',
        'https://oauth2.googleapis.com/token',
      ]);
    });

    it('GoogleAuth with the key file (GOOGLE_APPLICATION_CREDENTIALS-style keyFilename)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gal-key-'));
      const keyFile = join(dir, 'key.json');
      writeFileSync(keyFile, JSON.stringify(emu.createServiceAccountKey(KEY_SA)), { mode: 0o600 });
      const auth = new GoogleAuth({ keyFilename: keyFile });
      const client = await auth.getIdTokenClient(AUDIENCE);
      redirectGoogleTokenEndpoint(client.idTokenProvider as JWT, emu);
      keep('GoogleAuth key file', await client.idTokenProvider.fetchIdToken(AUDIENCE));
    });
  });

  describe('authorized_user (UserRefreshClient) with endpoints.oauth2TokenUrl', () => {
    it('refreshes an access token; its ID token is for the OAuth client, as Google issues user tokens', async () => {
      const user = emu.createUserCredentials(USER);
      const client = new UserRefreshClient({
        clientId: user.client_id,
        clientSecret: user.client_secret,
        refreshToken: user.refresh_token,
        endpoints: { oauth2TokenUrl: emu.tokenUri },
      });
      const { token } = await client.getAccessToken();
      expect(emu.principalOf(token!)).toBe(USER);
      const claims = keep('UserRefreshClient.fetchIdToken', await client.fetchIdToken(AUDIENCE));
      expect(claims).toMatchObject({ aud: user.client_id, email: USER });
    });
  });

  describe('Impersonated with endpoint', () => {
    it('from the metadata server: fetchIdToken (includeEmail, useEmailAzp), and an access token', async () => {
      process.env.GCE_METADATA_HOST = emu.metadataHost;
      emu.reset();
      const impersonated = new Impersonated({
        sourceClient: new Compute(),
        targetPrincipal: TARGET,
        delegates: [`projects/-/serviceAccounts/hop@gal-project.iam.gserviceaccount.com`],
        targetScopes: [CLOUD_PLATFORM],
        endpoint: emu.iamCredentialsUrl,
      });
      const claims = keep('Impersonated.fetchIdToken', await impersonated.fetchIdToken(AUDIENCE));
      expect(claims).toMatchObject({ aud: AUDIENCE, email: TARGET, azp: TARGET });
      const [call] = emu.requests(`${TARGET}:generateIdToken`);
      expect(JSON.parse(call!.body)).toEqual({
        delegates: ['projects/-/serviceAccounts/hop@gal-project.iam.gserviceaccount.com'],
        audience: AUDIENCE,
        includeEmail: true,
        useEmailAzp: true,
      });
      expect(emu.principalOf(String(call!.headers.authorization).slice(7))).toBe(RUNTIME);
      const { token } = await impersonated.getAccessToken();
      expect(emu.principalOf(token!)).toBe(TARGET);
    });

    it('from user credentials, includeEmail false: a token without email, which the guard refuses (403)', async () => {
      const user = emu.createUserCredentials(USER);
      const source = new UserRefreshClient({
        clientId: user.client_id,
        clientSecret: user.client_secret,
        refreshToken: user.refresh_token,
        endpoints: { oauth2TokenUrl: emu.tokenUri },
      });
      const impersonated = new Impersonated({ sourceClient: source, targetPrincipal: TARGET, endpoint: emu.url });
      const token = await impersonated.fetchIdToken(AUDIENCE, { includeEmail: false });
      expect(payloadOf(token)).not.toHaveProperty('email');
      const refused = await guarded.call('/guarded/email', { authorization: `Bearer ${token}` });
      expect(refused.status).toBe(403);
      expect(refused.wwwAuthenticate).toBe('Bearer error="insufficient_scope"');
    });
  });

  describe('verifying', () => {
    it('OAuth2Client.verifyIdToken with the X.509 PEM certificates of /oauth2/v1/certs', async () => {
      const client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: emu.pemCertsUrl } });
      const { certs, format } = await client.getFederatedSignonCertsAsync();
      expect(format).toBe('PEM');
      expect(Object.keys(certs)).toEqual([emu.currentKid]);
      expect(certs[emu.currentKid]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      const token = emu.mintIdToken({ aud: AUDIENCE });
      const ticket = await client.verifyIdToken({ idToken: token, audience: AUDIENCE });
      expect(ticket.getPayload()).toMatchObject({ aud: AUDIENCE, email: RUNTIME });
      await expect(client.verifyIdToken({ idToken: token, audience: 'https://other.example' })).rejects.toThrow(
        /Wrong recipient/,
      );
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`;
      await expect(client.verifyIdToken({ idToken: forged, audience: AUDIENCE })).rejects.toThrow(
        /Invalid token signature/,
      );
    });

    it('verifies every token the flows above obtained with the PEM certificates and the JWKS (jose)', async () => {
      expect(obtained.map((o) => o.flow)).toHaveLength(8);
      const pem = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: emu.pemCertsUrl } });
      const jwks = createRemoteJWKSet(new URL(emu.certsUrl));
      for (const { flow, token } of obtained) {
        const audience = payloadOf(token).aud as string;
        await expect(pem.verifyIdToken({ idToken: token, audience }), flow).resolves.toBeDefined();
        const { payload } = await jwtVerify(token, jwks, { issuer: 'https://accounts.google.com', audience });
        expect(payload.email, flow).toBeDefined();
      }
    });

    it('a Nest app behind CloudRunAuthGuard (JWKS from the emulator) accepts each of them', async () => {
      for (const { flow, token } of obtained) {
        const res = await guarded.call('/guarded/email', { authorization: `Bearer ${token}` });
        expect(res.status, `${flow}: ${res.body}`).toBe(200);
        expect(JSON.parse(res.body).email).toBe(payloadOf(token).email);
      }
    });
  });
});
