import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudRunAuthConfigError } from '../lib/index.js';
import { cloudRunTarget } from '../lib/cli/doctor/audience.facts.js';
import { diagnoseToken, type TokenDiagnosis } from '../lib/cli/doctor/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';

/** `diagnoseToken()` (`nestjs-cloud-run-auth/doctor`) in-process, against the emulator's keys. */

const AUDIENCE = 'https://orders-abc123xyz-ew.a.run.app';
const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/orders';

describe('diagnoseToken', () => {
  let emu: Emulator;
  const inbound = (extra: Record<string, unknown> = {}) => ({
    audience: AUDIENCE,
    certsUrl: emu.certsUrl,
    allowedCallers: [emu.serviceAccountEmail],
    ...extra,
  });
  /** Neither the token nor its signature is anywhere in the diagnosis. */
  const expectNoToken = (diagnosis: TokenDiagnosis, token: string) => {
    const text = JSON.stringify(diagnosis);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2] || token);
  };

  beforeAll(async () => {
    emu = await startEmulator({ iapAudience: IAP_AUDIENCE });
  });
  afterAll(() => emu?.close());

  it('accepts a caller the module allows, as the guard would, and says by which list', async () => {
    const token = emu.mintIdToken({ aud: AUDIENCE });
    const diagnosis = await diagnoseToken(`Bearer ${token}`, { inbound: inbound() });
    expect(diagnosis).toMatchObject({
      accepted: true,
      status: 200,
      reason: undefined,
      fixOn: undefined,
      caller: { email: emu.serviceAccountEmail, allowList: 'module', allowed: true },
      token: { kind: 'id-token', claims: { aud: AUDIENCE }, signature: 'present' },
    });
    expect(diagnosis.cause).toBe(
      `the guard lets it through: a valid ID token for ${AUDIENCE}, and ${emu.serviceAccountEmail} is in inbound.allowedCallers`,
    );
    expectNoToken(diagnosis, token);
  });

  it("a route's @AllowedCallers() replaces the module's list", async () => {
    const diagnosis = await diagnoseToken(emu.mintIdToken({ aud: AUDIENCE }), {
      inbound: inbound(),
      routeAllowedCallers: ['*@other-project.iam.gserviceaccount.com'],
    });
    expect(diagnosis).toMatchObject({ accepted: false, status: 403, reason: 'caller_not_allowed', fixOn: 'service' });
    expect(diagnosis.caller).toMatchObject({
      allowList: 'route',
      entries: ['*@other-project.iam.gserviceaccount.com'],
    });
  });

  it("recognises a user's ID token (an OAuth client's audience)", async () => {
    const token = emu.mintIdToken({ aud: '32555940559.apps.googleusercontent.com', email: 'dev@example.com' });
    const diagnosis = await diagnoseToken(token, { inbound: inbound() });
    expect(diagnosis).toMatchObject({ reason: 'invalid_audience', fixOn: 'caller' });
    expect(diagnosis.cause).toMatch(
      /^aud 32555940559\.apps\.googleusercontent\.com is an OAuth client ID: a user's ID token/,
    );
    expect(diagnosis.nextStep).toContain('--impersonate-service-account=SA_EMAIL');
  });

  it('with the URL callers use, tells a service that verifies another audience', async () => {
    const url = 'https://orders-123456789012.europe-west1.run.app';
    const diagnosis = await diagnoseToken(emu.mintIdToken({ aud: url }), { inbound: inbound(), url: `${url}/orders` });
    expect(diagnosis).toMatchObject({
      reason: 'invalid_audience',
      fixOn: 'service',
      failedClaim: { claim: 'aud', received: url, expected: AUDIENCE },
    });
    expect(diagnosis.cause).toMatch(/^the service verifies another audience: callers ask for its URL/);
  });

  it('judges an IAP assertion with inbound.iap, and says to set it without', async () => {
    const assertion = emu.mintIapAssertion({ email: 'alice@example.com' });
    const iap = await diagnoseToken(assertion, {
      inbound: inbound({
        iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
        allowedCallers: ['alice@example.com'],
      }),
    });
    expect(iap).toMatchObject({
      accepted: true,
      token: { kind: 'iap-assertion' },
      caller: { email: 'alice@example.com' },
    });
    const without = await diagnoseToken(assertion, { inbound: inbound() });
    expect(without).toMatchObject({ accepted: false, fixOn: 'service' });
    expect(without.nextStep).toBe(`set inbound.iap: { audience: ${IAP_AUDIENCE} } if this service is behind IAP`);
  });

  it("a signature Cloud Run removed: mode 'cloud-run-iam' accepts it, 'verify' says to switch", async () => {
    const stripped = emu.mintIdToken({ aud: AUDIENCE }, { stripSignature: true });
    const verify = await diagnoseToken(stripped, { inbound: inbound() });
    expect(verify).toMatchObject({ reason: 'signature_removed', fixOn: 'service', failedClaim: { claim: 'mode' } });
    const iam = await diagnoseToken(stripped, { inbound: inbound({ mode: 'cloud-run-iam' }) });
    expect(iam).toMatchObject({ accepted: true, token: { signature: 'removed-by-google' } });
    expect(iam.cause).toContain("which mode 'cloud-run-iam' accepts only in a header the client sent");
  });

  it("an unverified email: the guard's email_not_verified, and the sub: entry that would match", async () => {
    const token = emu.mintIdToken({ aud: AUDIENCE, email: 'dev@example.com', email_verified: false, sub: '112233' });
    const diagnosis = await diagnoseToken(token, { inbound: inbound() });
    expect(diagnosis).toMatchObject({ status: 403, reason: 'email_not_verified', fixOn: 'caller' });
    expect(diagnosis.nextStep).toBe('call as a service account, or list the caller by its unique ID: "sub:112233"');
  });

  it("names why the keys could not be had, in the key store's words", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const certsUrl = `http://127.0.0.1:${port}/oauth2/v3/certs`;
    const diagnosis = await diagnoseToken(emu.mintIdToken({ aud: AUDIENCE }), { inbound: inbound({ certsUrl }) });
    expect(diagnosis).toMatchObject({ status: 503, reason: 'keys_unavailable', fixOn: 'keys' });
    expect(diagnosis.cause).toBe(`the signing keys could not be fetched from ${certsUrl}: unreachable (ECONNREFUSED)`);
    expect(diagnosis.nextStep).toMatch(
      new RegExp(`^nothing is listening at 127\\.0\\.0\\.1:${port} — is the emulator running\\?`),
    );
  });

  it('refuses invalid options as the module does, naming the field', async () => {
    const error = await diagnoseToken('x', { inbound: { audience: AUDIENCE } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect((error as CloudRunAuthConfigError).field).toBe('inbound.allowedCallers');
  });
});

describe('the service a Cloud Run URL names (for the run.invoker command)', () => {
  it.each([
    [
      'https://orders-123456789012.europe-west1.run.app/orders/42',
      { runApp: true, service: 'orders', region: 'europe-west1' },
    ],
    [
      'https://orders-v2-123456789012.us-central1.run.app',
      { runApp: true, service: 'orders-v2', region: 'us-central1' },
    ],
    ['https://orders-abc123xyzq-ew.a.run.app', { runApp: true, service: 'orders', region: undefined }],
    ['https://orders.example.com', { runApp: false, service: undefined, region: undefined }],
  ])('%s', (url, expected) => expect(cloudRunTarget(url)).toEqual(expected));
});
