import { describe, expect, it } from 'vitest';
import type { Emulator } from '../lib/testing/index.js';
import { PLATFORMS, useGuardedApps, type GuardedApp } from './utils/guarded-app.js';
import { attackerKey, claims, mint, signRs256 } from './utils/tokens.js';

const SERVICE = 'https://worker-abc123-ew.a.run.app';

describe.each(PLATFORMS)('CloudRunAuthGuard modes on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;
  const apps = useGuardedApps(platform, (running) => (emu = running));
  const start = async (options: Parameters<typeof apps.start>[0]) => (guarded = await apps.start(options));
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const serverless = (token: string) => ({ 'x-serverless-authorization': `Bearer ${token}` });

  describe("mode 'cloud-run-iam'", () => {
    const startIam = () =>
      start({
        inbound: {
          audience: SERVICE,
          allowedCallers: [emu.serviceAccountEmail],
          mode: 'cloud-run-iam',
          certsUrl: emu.certsUrl,
        },
      });
    const stripped = (overrides: Record<string, unknown> = {}) =>
      mint(emu, SERVICE, overrides, { stripSignature: true });

    it('accepts a token whose signature Cloud Run removed, on its claims, with signatureVerified false', async () => {
      const { call } = await startIam();
      const res = await call('/guarded/me', auth(stripped()));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ email: emu.serviceAccountEmail, signatureVerified: false });
      expect(emu.requestCount('/oauth2/v3/certs')).toBe(0);
    });

    it('still applies every claim check and the allow-list to stripped tokens', async () => {
      const { call, logger } = await startIam();
      const now = Math.floor(Date.now() / 1000);
      const cases: [Record<string, unknown>, number, string][] = [
        [{ aud: 'https://other.a.run.app' }, 401, 'invalid_audience'],
        [{ iss: 'https://evil.example.com' }, 401, 'invalid_issuer'],
        [{ iat: now - 7200, exp: now - 3600 }, 401, 'expired'],
        [{ email_verified: false }, 403, 'email_not_verified'],
        [{ email: 'intruder@evil-project.iam.gserviceaccount.com' }, 403, 'caller_not_allowed'],
      ];
      for (const [overrides, status, reason] of cases) {
        expect((await call('/guarded/me', auth(stripped(overrides)))).status, reason).toBe(status);
        expect(logger.rejections().at(-1)).toContain(`reason=${reason}`);
      }
    });

    it('fully verifies tokens that still carry a signature', async () => {
      const { call } = await startIam();
      const real = await call('/guarded/me', auth(mint(emu, SERVICE)));
      expect(real.status).toBe(200);
      expect(JSON.parse(real.body)).toMatchObject({ signatureVerified: true });
      const forged = signRs256(attackerKey.privateKey, { alg: 'RS256', kid: emu.currentKid }, claims(emu, SERVICE));
      expect((await call('/guarded/me', auth(forged))).status).toBe(401);
      const none = mint(emu, SERVICE, {}, { header: { alg: 'none' }, stripSignature: true });
      expect((await call('/guarded/me', auth(none))).status).toBe(401);
    });

    it('reads X-Serverless-Authorization, the header Cloud Run checked, before Authorization', async () => {
      const { call } = await startIam();
      const checked = stripped({ email: emu.serviceAccountEmail });
      const other = stripped({ email: 'intruder@evil-project.iam.gserviceaccount.com' });
      const res = await call('/guarded/email', { ...serverless(checked), ...auth(other) });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ email: emu.serviceAccountEmail });
      // The unchecked Authorization header is never a fallback for a bad X-Serverless-Authorization.
      expect(
        (await call('/guarded/email', { 'x-serverless-authorization': 'Bearer x.y', ...auth(checked) })).status,
      ).toBe(401);
      expect((await call('/guarded/email', { ...serverless(other), ...auth(checked) })).status).toBe(403);
    });

    it("is needed: mode 'verify' rejects the same stripped token", async () => {
      const { call } = await start({
        inbound: { audience: SERVICE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl },
      });
      expect((await call('/guarded/me', auth(stripped()))).status).toBe(401);
    });
  });

  describe('mount: true', () => {
    const inbound = () => ({
      audience: SERVICE,
      allowedCallers: [emu.serviceAccountEmail],
      certsUrl: emu.certsUrl,
      mount: true,
    });

    it.each([
      ['forRoot', () => ({ inbound: inbound() })],
      [
        'forRootAsync',
        () => ({ async: { mount: true, useFactory: async () => ({ inbound: { ...inbound(), mount: undefined } }) } }),
      ],
    ])('guards every route (%s) except @SkipCloudRunAuth ones', async (_name, options) => {
      const { call } = await start(options());
      const token = mint(emu, SERVICE);
      expect((await call('/open')).status).toBe(401);
      expect((await call('/open', auth(token))).status).toBe(200);
      expect(
        (await call('/open', auth(mint(emu, SERVICE, { email: 'intruder@evil-project.iam.gserviceaccount.com' }))))
          .status,
      ).toBe(403);
      expect((await call('/open/health')).status).toBe(200);
      expect((await call('/public')).status).toBe(200);
      expect((await call('/public/private')).status).toBe(401); // @SkipCloudRunAuth(false) on the route wins
      const res = await call('/public/private', auth(token));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ email: emu.serviceAccountEmail });
    });

    it('registers a pass-through APP_GUARD when the async factory leaves mount off', async () => {
      const { call } = await start({
        async: { useFactory: async () => ({ inbound: { ...inbound(), mount: false } }) },
      });
      expect((await call('/open')).status).toBe(200);
      expect((await call('/guarded/me')).status).toBe(401);
    });
  });

  describe('allowAnyCaller: true', () => {
    const startAny = () => start({ inbound: { audience: SERVICE, allowAnyCaller: true, certsUrl: emu.certsUrl } });

    it('accepts any valid token, with or without email, where no @AllowedCallers applies', async () => {
      const { call } = await startAny();
      const anyone = await call('/guarded/me', auth(mint(emu, SERVICE, { email: 'someone@gmail.com' })));
      expect(anyone.status).toBe(200);
      const noEmail = await call(
        '/guarded/me',
        auth(mint(emu, SERVICE, { email: undefined, email_verified: undefined })),
      );
      expect(noEmail.status).toBe(200);
      expect(JSON.parse(noEmail.body).email).toBeUndefined();
      const unverified = await call('/guarded/me', auth(mint(emu, SERVICE, { email_verified: false })));
      expect(JSON.parse(unverified.body).email).toBeUndefined(); // never exposed unverified
    });

    it('still enforces @AllowedCallers, requiring a verified email there (403: the token is valid)', async () => {
      const { call, logger } = await startAny();
      expect(
        (await call('/team', auth(mint(emu, SERVICE, { email: 'ci@team-project.iam.gserviceaccount.com' })))).status,
      ).toBe(200);
      expect((await call('/team', auth(mint(emu, SERVICE)))).status).toBe(403);
      const noEmail = await call('/team', auth(mint(emu, SERVICE, { email: undefined, email_verified: undefined })));
      expect(noEmail.status).toBe(403);
      expect(noEmail.wwwAuthenticate).toBe('Bearer error="insufficient_scope"');
      expect(logger.rejections().at(-1)).toContain('reason=missing_email');
      const unverified = await call(
        '/team',
        auth(mint(emu, SERVICE, { email: 'ci@team-project.iam.gserviceaccount.com', email_verified: false })),
      );
      expect(unverified.status).toBe(403);
      expect(unverified.wwwAuthenticate).toBe('Bearer error="insufficient_scope"');
      expect(logger.rejections().at(-1)).toContain('reason=email_not_verified');
    });
  });

  describe('Pub/Sub push, Cloud Tasks and Cloud Scheduler audiences (the full target URL)', () => {
    const PUSH = `${SERVICE}/push/pubsub`;
    const TASK = `${SERVICE}/push/tasks/handle`;
    const TICK = `${SERVICE}/push/scheduler/tick?job=nightly`;
    const SENDER = 'push-invoker@worker-project.iam.gserviceaccount.com';
    const startPush = () =>
      start({ inbound: { audience: [SERVICE, PUSH, TASK, TICK], allowedCallers: [SENDER], certsUrl: emu.certsUrl } });
    const post = async (path: string, aud: unknown) =>
      (await guarded!.call(path, auth(mint(emu, SERVICE, { aud, email: SENDER })), 'POST')).status;

    it('accepts tokens minted for the configured push/task URLs, with or without a trailing slash', async () => {
      await startPush();
      expect(await post('/push/pubsub', PUSH)).toBe(204);
      expect(await post('/push/pubsub', `${PUSH}/`)).toBe(204);
      expect(await post('/push/tasks/handle', TASK)).toBe(200);
      expect(await post('/push/scheduler/tick', TICK)).toBe(200);
      expect(await post('/push/pubsub', `${SERVICE}/`)).toBe(204);
      const res = await guarded!.call(
        '/push/tasks/handle',
        auth(mint(emu, SERVICE, { aud: TASK, email: SENDER })),
        'POST',
      );
      expect(JSON.parse(res.body)).toEqual({ email: SENDER, audience: TASK });
    });

    it('rejects look-alike audiences', async () => {
      await startPush();
      for (const aud of [
        `${SERVICE}/push/other`,
        `${PUSH}//`,
        `${TICK}/`,
        `${SERVICE}/push`,
        PUSH.toUpperCase(),
        `${SERVICE}.evil.example/push/pubsub`,
      ]) {
        expect(await post('/push/pubsub', aud), aud).toBe(401);
      }
    });
  });
});
