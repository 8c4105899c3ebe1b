import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KEY_STALENESS_MS } from '../lib/inbound/keys/jwks.key-store.js';
import { clock } from '../lib/shared/clock.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { timeKeyLookups } from './utils/key-lookups.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/orders';
const CERTS = '/oauth2/v3/certs';
const IAP_CERTS = '/iap/verify/public_key-jwk';
const MAX_AGE_S = 3;
const FETCH_MS = 1500;
const COOLDOWN_MS = 1000;
/** What the issue calls waiting: a key lookup that takes longer than this waited for a fetch. */
const WAIT_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('signing keys refreshed while requests go on (stale-while-revalidate)', () => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;
  /** The library clock runs `offset` ms ahead of the real one: the staleness bound is a day. */
  let offset = 0;
  const nowSeconds = () => Math.floor(clock.now() / 1000);
  const idToken = () => {
    const iat = nowSeconds();
    return emu.mintIdToken({ aud: AUDIENCE, iat, exp: iat + 3600, jti: randomUUID() });
  };
  const assertion = () => {
    const iat = nowSeconds();
    return emu.mintIapAssertion({ aud: IAP_AUDIENCE, iat, exp: iat + 600, jti: randomUUID() });
  };
  /** One request with a token never seen before (a verification, not a cache hit); its status and latency. */
  const call = async (kind: 'id' | 'iap') => {
    const headers: Record<string, string> =
      kind === 'id' ? { authorization: `Bearer ${idToken()}` } : { 'x-goog-iap-jwt-assertion': assertion() };
    const started = performance.now();
    const { status } = await guarded!.call('/guarded/me', headers);
    return { status, ms: performance.now() - started };
  };

  beforeAll(async () => {
    emu = await startEmulator({ certsMaxAgeSeconds: MAX_AGE_S });
    clock.now = () => Date.now() + offset;
  });
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
    emu.reset();
    offset = 0;
  });
  afterAll(async () => {
    clock.now = Date.now;
    await emu?.close();
  });

  const start = () =>
    startGuardedApp('fastify', {
      inbound: {
        audience: AUDIENCE,
        certsUrl: emu.certsUrl,
        iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
        allowedCallers: [emu.serviceAccountEmail, 'developer@example.com'],
        keyFetchTimeoutMs: 2000,
        keyRefetchCooldownMs: COOLDOWN_MS,
      },
    });

  it(`max-age ${MAX_AGE_S} s, fetches of ${FETCH_MS} ms: no request waits for keys across several expiries, one fetch per refresh (ID tokens and IAP)`, async () => {
    guarded = await start();
    emu.fail(CERTS, { mode: 'slow', delayMs: FETCH_MS, times: Infinity });
    emu.fail(IAP_CERTS, { mode: 'slow', delayMs: FETCH_MS, times: Infinity });
    // The first request of each kind waits for the first load: nothing is held yet.
    expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([200, 200]);
    const lookups = timeKeyLookups();
    try {
      const results: Promise<{ status: number; ms: number }>[] = [];
      const started = performance.now();
      // Open loop: a new token of each kind every 25 ms, over three expiries and more.
      while (performance.now() - started < 3.3 * MAX_AGE_S * 1000) {
        results.push(call('id'), call('iap'));
        await sleep(25);
      }
      const settled = await Promise.all(results);
      const elapsedMs = performance.now() - started;
      expect(settled.filter((r) => r.status !== 200)).toEqual([]);
      // Not one key lookup took the slow path long enough to have waited for a fetch.
      expect(lookups.waits.filter((ms) => ms >= WAIT_MS)).toEqual([]);
      // A generous wall-clock bound too: a request that waited for a fetch would take about FETCH_MS.
      expect(Math.max(...settled.map((r) => r.ms))).toBeLessThan(FETCH_MS / 2);
      // One fetch per refresh: a refresh is due every ~2.5 s (1 s into a set's 3 s + a 1.5 s fetch).
      for (const path of [CERTS, IAP_CERTS]) {
        const refreshes = emu.requestCount(path) - 1;
        expect(refreshes, path).toBeGreaterThanOrEqual(3);
        expect(refreshes, path).toBeLessThanOrEqual(Math.ceil(elapsedMs / (MAX_AGE_S * 1000 - 2000 + FETCH_MS)) + 1);
      }
    } finally {
      lookups.restore();
    }
  }, 30_000);

  it('with the JWKS endpoint down past expiry, serves requests with the held keys within the staleness bound, then 503 keys_unavailable, then recovers', async () => {
    guarded = await start();
    expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([200, 200]);
    emu.fail(CERTS, { mode: 'error', times: Infinity });
    emu.fail(IAP_CERTS, { mode: 'error', times: Infinity });
    const lookups = timeKeyLookups();
    try {
      // Past max-age with every refresh failing (retried once per cooldown): the held keys verify.
      offset += MAX_AGE_S * 1000;
      expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([200, 200]);
      await expect.poll(() => emu.requestCount(CERTS)).toBe(2);
      await expect.poll(() => emu.requestCount(IAP_CERTS)).toBe(2);
      offset += MAX_KEY_STALENESS_MS - 60_000; // a minute before the bound
      expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([200, 200]);
      expect(lookups.waits).toEqual([]); // every key came from the held set
      await expect.poll(() => emu.requestCount(CERTS)).toBe(3);

      offset += 60_000; // past the bound: the keys are dropped, and nothing can be verified
      expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([503, 503]);
      expect(guarded.logger.rejections().at(-1)).toContain('reason=keys_unavailable');
      expect(
        guarded.logger.lines.filter((l) => l.level === 'warn' && /Dropped the \d+ signing key\(s\)/.test(l.text)),
      ).toHaveLength(2);
      // Within the cooldown after that failed fetch: 503 at once, no further fetch.
      const fetches = emu.requestCount(CERTS);
      expect((await call('id')).status).toBe(503);
      expect(emu.requestCount(CERTS)).toBe(fetches);

      emu.reset(); // the endpoint is back
      offset += COOLDOWN_MS;
      expect((await Promise.all([call('id'), call('iap')])).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      lookups.restore();
    }
  });

  it('a refreshed key set that withdraws a kid: tokens of that kid are refused from then on, cached ones included', async () => {
    guarded = await start();
    const old = idToken();
    const bearer = { authorization: `Bearer ${old}` };
    expect((await guarded.call('/guarded/me', bearer)).status).toBe(200);
    expect((await guarded.call('/guarded/me', bearer)).status).toBe(200); // a cache hit
    emu.rotateKeys({ dropPrevious: true });
    offset += MAX_AGE_S * 1000; // the set expires: the next verification refreshes it in the background
    // Signed with the new key: its kid is not in the held set, so it waits for the refresh in flight.
    expect((await call('id')).status).toBe(200);
    expect(emu.requestCount(CERTS)).toBe(2);
    const refused = await guarded.call('/guarded/me', bearer);
    expect(refused.status).toBe(401);
    expect(guarded.logger.rejections().at(-1)).toContain('reason=unknown_kid');
  });
});
