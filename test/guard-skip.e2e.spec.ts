import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { PLATFORMS, SPECIAL_CALLER, startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { mint } from './utils/tokens.js';

const SERVICE = 'https://worker-abc123-ew.a.run.app';

describe.each(PLATFORMS)('@AllowedCallers inside a @SkipCloudRunAuth() controller on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const start = async (mount: boolean) =>
    (guarded = await startGuardedApp(platform, {
      inbound: { audience: SERVICE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl, mount },
    }));

  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
  });
  afterAll(() => emu?.close());

  describe.each([false, true])('mount: %s', (mount) => {
    it("guards a route with its own @AllowedCallers: the route's list applies", async () => {
      const { call, logger } = await start(mount);
      const none = await call('/skipped/special');
      expect(none.status).toBe(401);
      expect(none.wwwAuthenticate).toMatch(/^Bearer/);
      const allowed = await call('/skipped/special', auth(mint(emu, SERVICE, { email: SPECIAL_CALLER })));
      expect(allowed.status).toBe(200);
      expect(JSON.parse(allowed.body)).toEqual({ email: SPECIAL_CALLER });
      // Allowed by the module's list, but not by the route's.
      expect((await call('/skipped/special', auth(mint(emu, SERVICE)))).status).toBe(403);
      expect(logger.rejections().at(-1)).toContain('reason=caller_not_allowed');
      expect((await call('/skipped/special', auth(mint(emu, 'https://other.a.run.app')))).status).toBe(401);
    });

    it("leaves the controller's other routes open", async () => {
      const { call } = await start(mount);
      expect((await call('/skipped')).status).toBe(200);
      expect((await call('/skipped', { authorization: 'Bearer not-a-token' })).status).toBe(200);
    });

    it("a route's own @SkipCloudRunAuth(true) still wins over its @AllowedCallers", async () => {
      const { call } = await start(mount);
      expect((await call('/skipped/special-but-skipped')).status).toBe(200);
    });

    it('a controller with both @SkipCloudRunAuth() and @AllowedCallers() stays skipped', async () => {
      const { call } = await start(mount);
      expect((await call('/skipped-team')).status).toBe(200);
      expect((await call('/skipped-team', auth(mint(emu, SERVICE)))).status).toBe(200);
    });
  });
});
