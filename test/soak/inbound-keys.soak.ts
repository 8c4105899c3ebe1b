import { createServer, Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey, signJwt, toJwk, type SigningKey } from '../../lib/testing/signing-key.js';
import { startGuardedApp, type GuardedApp } from '../utils/guarded-app.js';
import { timeKeyLookups } from '../utils/key-lookups.js';

/**
 * `npm run test:soak` (not part of `npm test`): a guarded application under steady load for a
 * minute while its signing keys rotate every 5 s, as Google rotates them over days: each key is
 * published one period before it signs and withdrawn one period after it stopped. 1,000 callers,
 * each with its own token, re-minted when the signing key changes. Every request must get a 200,
 * no key lookup may wait for a fetch, and the heap must not grow with time.
 */
const SOAK_MS = Number(process.env.SOAK_SECONDS ?? 60) * 1000;
const ROTATION_MS = 5000;
const CALLERS = 1000;
const CONCURRENCY = 16;
/** JWKS `max-age`, and how long each JWKS answer takes. */
const MAX_AGE_S = 2;
const FETCH_DELAY_MS = 200;
const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
/** What waiting is: a key lookup that took this long waited for a fetch. */
const WAIT_MS = 50;
/** Heap growth allowed between the end of the warm-up and the end of the soak, after a full GC. */
const MAX_HEAP_GROWTH_BYTES = 16 * 2 ** 20;
const WARM_UP_MS = 10_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** A JWKS endpoint whose keys rotate every ROTATION_MS: key k signs in period k, published in periods k-1 to k+1. */
async function startRotatingJwks(keys: SigningKey[]) {
  const startedAt = Date.now();
  const period = () => Math.floor((Date.now() - startedAt) / ROTATION_MS) + 1;
  let fetches = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  const server = createServer((_req, res) => {
    fetches += 1;
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    const k = period();
    const published = keys.slice(Math.max(k - 1, 0), k + 2);
    setTimeout(() => {
      inFlight -= 1;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': `public, max-age=${MAX_AGE_S}` });
      res.end(JSON.stringify({ keys: published.map(toJwk) }));
    }, FETCH_DELAY_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`,
    /** The key that signs now. */
    signingKey: () => keys[period()]!,
    stats: () => ({ fetches, mostInFlight }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('soak: 1,000 callers for a minute, signing keys rotating every 5 s', () => {
  let jwks: Awaited<ReturnType<typeof startRotatingJwks>>;
  let guarded: GuardedApp;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  beforeAll(async () => {
    const keys = Array.from({ length: Math.ceil(SOAK_MS / ROTATION_MS) + 4 }, createSigningKey);
    jwks = await startRotatingJwks(keys);
    guarded = await startGuardedApp('fastify', {
      inbound: {
        audience: AUDIENCE,
        allowedCallers: ['*@soak-project.iam.gserviceaccount.com'],
        certsUrl: jwks.url,
        keyFetchTimeoutMs: 1000,
        keyRefetchCooldownMs: 1000,
      },
    });
  }, 120_000);
  afterAll(async () => {
    agent.destroy();
    await guarded?.close();
    await jwks?.close();
  });

  const get = (authorization: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${guarded.url}/guarded/email`, { agent, headers: { authorization } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });

  it('every request is allowed, none waits for keys, one fetch at a time, the heap stays flat', async () => {
    const callers = Array.from({ length: CALLERS }, (_, i) => ({
      email: `caller-${i}@soak-project.iam.gserviceaccount.com`,
      subject: `1${String(i).padStart(20, '0')}`,
      kid: '',
      token: '',
    }));
    /** The caller's token, signed with the key that signs now (a new one when the key changed). */
    const tokenOf = (caller: (typeof callers)[number]) => {
      const key = jwks.signingKey();
      if (caller.kid !== key.kid) {
        const iat = Math.floor(Date.now() / 1000);
        caller.token = signJwt(key, {
          iss: 'https://accounts.google.com',
          aud: AUDIENCE,
          sub: caller.subject,
          email: caller.email,
          email_verified: true,
          iat,
          exp: iat + 3600,
        });
        caller.kid = key.kid;
      }
      return caller.token;
    };

    // The first request waits for the first key load, as a service's first request does: nothing is held yet.
    expect(await get(`Bearer ${tokenOf(callers[0]!)}`)).toBe(200);
    const lookups = timeKeyLookups();
    const statuses = new Map<number, number>();
    let requests = 0;
    let slowest = 0;
    let heapAtWarmUp: number | undefined;
    const started = Date.now();
    try {
      const worker = async (w: number) => {
        for (let i = w; Date.now() - started < SOAK_MS; i += CONCURRENCY) {
          const caller = callers[(i * 7919) % CALLERS]!;
          const sent = performance.now();
          const status = await get(`Bearer ${tokenOf(caller)}`);
          slowest = Math.max(slowest, performance.now() - sent);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          requests += 1;
        }
      };
      const heapProbe = (async () => {
        await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
        heapAtWarmUp = heapAfterGc();
      })();
      await Promise.all([...Array.from({ length: CONCURRENCY }, (_, w) => worker(w)), heapProbe]);
    } finally {
      lookups.restore();
    }
    const heapAtEnd = heapAfterGc();
    const { fetches, mostInFlight } = jwks.stats();
    const maxKeyWait = Math.max(0, ...lookups.waits);
    console.log(
      `soak: ${requests} requests in ${Math.round((Date.now() - started) / 1000)} s from ${CALLERS} callers, ` +
        `statuses ${JSON.stringify(Object.fromEntries(statuses))}, slowest request ${Math.round(slowest)} ms; ` +
        `key lookups off the held set: ${lookups.waits.length}, max key wait ${maxKeyWait.toFixed(2)} ms; ` +
        `JWKS fetches: ${fetches} (at most ${mostInFlight} at a time); ` +
        `heap after GC: ${mib(heapAtWarmUp!)} MiB after the warm-up, ${mib(heapAtEnd)} MiB at the end`,
    );

    expect(requests).toBeGreaterThan(CALLERS);
    expect([...statuses.keys()]).toEqual([200]);
    expect(lookups.waits.filter((ms) => ms >= WAIT_MS)).toEqual([]);
    expect(mostInFlight).toBe(1);
    // Refreshes follow verifications (cache misses: mostly new tokens after each rotation), at most
    // one every ~1.2 s (1 s into a set's 2 s max-age, then a 200 ms fetch), the first load included.
    expect(fetches).toBeGreaterThanOrEqual(Math.floor(SOAK_MS / ROTATION_MS));
    expect(fetches).toBeLessThanOrEqual(Math.ceil(SOAK_MS / (MAX_AGE_S * 1000 - 1000 + FETCH_DELAY_MS)) + 2);
    expect(heapAtEnd - heapAtWarmUp!).toBeLessThan(MAX_HEAP_GROWTH_BYTES);
  });
});
