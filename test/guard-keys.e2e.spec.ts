import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { PLATFORMS, startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { attackerKey, claims, mint, randomKid, signRs256 } from './utils/tokens.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const CERTS = '/oauth2/v3/certs';
const COOLDOWN_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(PLATFORMS)('signing keys behind the guard on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;

  const start = async (inbound: Record<string, unknown> = {}) => {
    guarded = await startGuardedApp(platform, {
      inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl, ...inbound },
    });
    return guarded;
  };
  const status = async (token: string) =>
    (await guarded!.call('/guarded/me', { authorization: `Bearer ${token}` })).status;

  // One emulator (RSA key generation is slow); a fresh app, hence a fresh key store, per test.
  beforeAll(async () => {
    emu = await startEmulator();
  });
  beforeEach(() => emu.reset());
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
  });
  afterAll(() => emu?.close());

  it('fetches keys lazily, once, and serves a reused token from the verified-token cache', async () => {
    await start();
    expect(emu.requestCount(CERTS)).toBe(0);
    const token = mint(emu, AUDIENCE);
    expect(await Promise.all(Array.from({ length: 20 }, () => status(token)))).toEqual(Array(20).fill(200));
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    expect(emu.requestCount(CERTS)).toBe(1);
  });

  it('accepts a token signed with a rotated-in key after exactly one refetch, once the cooldown allows it', async () => {
    // A short cooldown: an unknown kid refetches only a cooldown after the last fetch, the first load included.
    await start({ keyRefetchCooldownMs: COOLDOWN_MS });
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    expect(emu.requestCount(CERTS)).toBe(1);
    emu.rotateKeys();
    await sleep(COOLDOWN_MS + 100);
    const rotated = Array.from({ length: 10 }, () => mint(emu, AUDIENCE));
    expect(await Promise.all(rotated.map(status))).toEqual(Array(10).fill(200));
    expect(emu.requestCount(CERTS)).toBe(2);
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    expect(emu.requestCount(CERTS)).toBe(2);
  });

  it('a flood of 1000 tokens with random kids right after the key load causes no fetch within the cooldown', async () => {
    await start();
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    // Valid claims, so every token reaches the key lookup; signing once keeps the test fast.
    const signed = signRs256(attackerKey.privateKey, { alg: 'RS256', kid: 'x' }, claims(emu, AUDIENCE));
    const [, payload, signature] = signed.split('.');
    const forged = Array.from(
      { length: 1000 },
      () =>
        `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: randomKid() })).toString('base64url')}.${payload}.${signature}`,
    );
    const statuses: number[] = [];
    for (let i = 0; i < forged.length; i += 100) {
      statuses.push(...(await Promise.all(forged.slice(i, i + 100).map(status))));
    }
    expect(statuses).toEqual(Array(1000).fill(401));
    expect(emu.requestCount(CERTS)).toBe(1); // at most one fetch per cooldown (30 s), the load included
    const reasons = guarded!.logger.rejections().map((l) => /reason=(\w+)/.exec(l)?.[1]);
    expect(new Set(reasons)).toEqual(new Set(['unknown_kid']));
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
  });

  it('keeps verifying with cached keys while the certs endpoint is down', async () => {
    await start({ keyRefetchCooldownMs: COOLDOWN_MS });
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    emu.fail(CERTS, { mode: 'error', times: Infinity });
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
    // An unknown kid, once the cooldown allows a refetch, costs one failed refetch and is a 401, not a 503.
    emu.rotateKeys();
    await sleep(COOLDOWN_MS + 100);
    expect(await status(mint(emu, AUDIENCE))).toBe(401);
    expect(emu.requestCount(CERTS)).toBe(2);
  });

  it.each([
    ['answers 503', 'error'],
    ['returns garbage', 'garbage'],
  ] as const)(
    'answers 503 when the certs endpoint %s and nothing is cached, at most one fetch per cooldown, then recovers',
    async (_name, mode) => {
      const cooldownMs = 1000; // long enough for the burst below to fit in it
      const { call, logger } = await start({ keyRefetchCooldownMs: cooldownMs });
      emu.fail(CERTS, { mode, times: 1 });
      const first = await call('/guarded/me', { authorization: `Bearer ${mint(emu, AUDIENCE)}` });
      expect(first.status).toBe(503);
      expect(first.wwwAuthenticate).toBeNull();
      // Under load inside the cooldown: 503 at once, no further fetch, one warning.
      const tokens = Array.from({ length: 50 }, () => mint(emu, AUDIENCE));
      expect(await Promise.all(tokens.map(status))).toEqual(Array(50).fill(503));
      expect(emu.requestCount(CERTS)).toBe(1);
      expect(logger.rejections().at(-1)).toContain('reason=keys_unavailable');
      expect(logger.lines.filter((l) => l.level === 'warn' && l.text.includes('Fetching signing keys'))).toHaveLength(
        1,
      );
      await sleep(cooldownMs);
      expect(await status(mint(emu, AUDIENCE))).toBe(200);
      expect(emu.requestCount(CERTS)).toBe(2);
    },
  );

  it('answers 503 when the certs endpoint hangs past keyFetchTimeoutMs', async () => {
    await start({ keyFetchTimeoutMs: 200, keyRefetchCooldownMs: COOLDOWN_MS });
    emu.fail(CERTS, { mode: 'hang', times: 1 });
    const tokens = Array.from({ length: 5 }, () => mint(emu, AUDIENCE));
    expect(await Promise.all(tokens.map(status))).toEqual(Array(5).fill(503));
    expect(emu.requestCount(CERTS)).toBe(1); // one fetch in flight, shared
    await sleep(COOLDOWN_MS);
    expect(await status(mint(emu, AUDIENCE))).toBe(200);
  });

  it('logs the first refusal of a reason at warn, with the audience received and expected, the next ones at debug', async () => {
    const { logger } = await start();
    const wrong = mint(emu, 'https://wrong-service.a.run.app');
    expect(await status(wrong)).toBe(401);
    expect(await status(mint(emu, 'https://wrong-service.a.run.app'))).toBe(401);
    const lines = logger.lines.filter((l) => l.text.includes('reason=invalid_audience'));
    expect(lines.map((l) => l.level)).toEqual(['warn', 'debug']);
    expect(lines[0]!.text).toContain('received_audience=https://wrong-service.a.run.app');
    expect(lines[0]!.text).toContain(`reason=invalid_audience audience=${AUDIENCE}`);
    expect(lines[0]!.text).toContain('check="the caller requests tokens for another audience');
    expect(logger.lines.map((l) => l.text).join('\n')).not.toContain(wrong);
  });
});
