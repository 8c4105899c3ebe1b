import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudRunAuthConfigError, IdTokenVerifier, SigningKeyStore, TokenVerificationError, type IdTokenVerifierOptions } from '../lib/index.js';
import { JwksKeyStore } from '../lib/verify/jwks.key-store.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { startTarget } from './utils/target.js';
import { attackerKey, claims, forgedCases, mint, randomKid, signRs256, withHeader } from './utils/tokens.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const CERTS = '/oauth2/v3/certs';
const GUARD_ONLY = new Set(['missing_token', 'malformed_header', 'duplicate_header', 'header_too_large', 'caller_not_allowed']);

/** Counts key lookups, i.e. verifications that were not answered by the verified-token cache. */
class CountingKeyStore extends SigningKeyStore {
  lookups = 0;
  constructor(private readonly inner: SigningKeyStore) {
    super();
  }
  getKey(kid: string): Promise<KeyObject | undefined> {
    this.lookups += 1;
    return this.inner.getKey(kid);
  }
}

async function rejection(promise: Promise<unknown>): Promise<TokenVerificationError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenVerificationError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('IdTokenVerifier', () => {
  let emu: Emulator;
  let clock: number;
  const now = () => clock;
  const verifier = (options: Partial<IdTokenVerifierOptions> = {}) =>
    new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl, now, ...options });

  const logger = new CapturingLogger();

  beforeAll(async () => {
    Logger.overrideLogger(logger);
    emu = await startEmulator({ certsMaxAgeSeconds: 600 });
  });
  beforeEach(() => {
    emu.reset();
    clock = Date.now();
  });
  afterAll(() => emu?.close());

  it('does no I/O until the first verification', async () => {
    const v = verifier();
    expect(emu.requestCount(CERTS)).toBe(0);
    await v.verify(mint(emu, AUDIENCE));
    expect(emu.requestCount(CERTS)).toBe(1);
  });

  it('returns the caller identity', async () => {
    const token = mint(emu, AUDIENCE, { email: 'Ops@P.iam.gserviceaccount.com' });
    const identity = await verifier().verify(token);
    expect(identity).toMatchObject({
      email: 'Ops@P.iam.gserviceaccount.com',
      subject: expect.any(String),
      audience: AUDIENCE,
      issuer: 'https://accounts.google.com',
      signatureVerified: true,
    });
    expect(identity.expiresAt.getTime() - identity.issuedAt.getTime()).toBe(3600_000);
    expect(Object.isFrozen(identity.claims)).toBe(true);
  });

  it('rejects every forged or broken token with a typed error and the expected reason, never echoing it', async () => {
    const previousKid = emu.currentKid;
    emu.rotateKeys();
    const pems = (await (await fetch(emu.pemCertsUrl)).json()) as Record<string, string>;
    const v = verifier();
    const cases = forgedCases(emu, AUDIENCE, pems[emu.currentKid]!, previousKid).filter(
      (c) => !GUARD_ONLY.has(c.reason) && Object.keys(c.headers).join() === 'authorization',
    );
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const c of cases) {
      const error = await rejection(v.verify(c.secret));
      expect(error.reason, c.name).toBe(c.reason);
      expect(error.message, c.name).not.toContain(c.secret);
    }
    // Not a string at all.
    expect((await rejection(v.verify(undefined as never))).reason).toBe('malformed');
    expect((await rejection(v.verify(`${mint(emu, AUDIENCE)}${'A'.repeat(9000)}`))).reason).toBe('malformed');
  });

  it('joins concurrent cold verifications onto one key fetch', async () => {
    const v = verifier();
    const tokens = Array.from({ length: 100 }, () => mint(emu, AUDIENCE));
    await Promise.all(tokens.map((t) => v.verify(t)));
    expect(emu.requestCount(CERTS)).toBe(1);
  });

  it('answers a reused token from the cache until it expires', async () => {
    const store = new CountingKeyStore(new JwksKeyStore({ certsUrl: emu.certsUrl, fetchTimeoutMs: 5000, refetchCooldownMs: 30_000, now }));
    const v = verifier({ keyStore: store });
    const token = mint(emu, AUDIENCE, {}, { lifetimeSeconds: 600 });
    for (let i = 0; i < 5; i += 1) await v.verify(token);
    expect(store.lookups).toBe(1);
    clock += 599_000;
    await v.verify(token);
    expect(store.lookups).toBe(1);
    clock += 2_000; // past exp, still inside the leeway: verified afresh, not served stale
    await v.verify(token);
    expect(store.lookups).toBe(2);
    clock += 30_000;
    expect((await rejection(v.verify(token))).reason).toBe('expired');
  });

  it('bounds the cache as an LRU', async () => {
    const store = new CountingKeyStore(new JwksKeyStore({ certsUrl: emu.certsUrl, fetchTimeoutMs: 5000, refetchCooldownMs: 30_000 }));
    const v = verifier({ keyStore: store, verifiedTokenCacheSize: 2 });
    const [a, b, c] = [mint(emu, AUDIENCE), mint(emu, AUDIENCE), mint(emu, AUDIENCE)];
    for (const t of [a, b, a, c]) await v.verify(t); // a was used after b: b is evicted
    expect(store.lookups).toBe(3);
    await v.verify(a);
    expect(store.lookups).toBe(3);
    await v.verify(b);
    expect(store.lookups).toBe(4);
    const uncached = verifier({ keyStore: store, verifiedTokenCacheSize: 0 });
    await uncached.verify(a);
    await uncached.verify(a);
    expect(store.lookups).toBe(6);
  });

  it('caches no rejection: a token rejected for unknown keys is accepted once keys are back', async () => {
    const v = verifier();
    const token = mint(emu, AUDIENCE);
    emu.fail(CERTS, { mode: 'error', times: 1 });
    expect((await rejection(v.verify(token))).reason).toBe('keys_unavailable');
    await expect(v.verify(token)).resolves.toMatchObject({ signatureVerified: true });
  });

  describe('JWKS refetching', () => {
    // Valid claims so each token reaches the key lookup; signed once, since the signature is never reached.
    let signed: string | undefined;
    const forged = () => {
      signed ??= signRs256(attackerKey.privateKey, { alg: 'RS256' }, claims(emu, AUDIENCE));
      return withHeader(signed, { alg: 'RS256', kid: randomKid() });
    };

    it('refetches for unknown kids at most once per cooldown, the first key load included', async () => {
      const v = verifier({ keyRefetchCooldownMs: 30_000 });
      await v.verify(mint(emu, AUDIENCE));
      const flood = () => Promise.all(Array.from({ length: 1000 }, () => rejection(v.verify(forged()))));
      const results = await flood();
      expect(new Set(results.map((e) => e.reason))).toEqual(new Set(['unknown_kid']));
      expect(emu.requestCount(CERTS)).toBe(1); // the load just fetched: its key set is current
      clock += 29_000;
      await rejection(v.verify(forged()));
      expect(emu.requestCount(CERTS)).toBe(1);
      clock += 1_000;
      expect(new Set((await flood()).map((e) => e.reason))).toEqual(new Set(['unknown_kid']));
      await rejection(v.verify(forged()));
      expect(emu.requestCount(CERTS)).toBe(2);
      clock += 29_000;
      await rejection(v.verify(forged()));
      expect(emu.requestCount(CERTS)).toBe(2);
      clock += 1_000;
      await rejection(v.verify(forged()));
      await rejection(v.verify(forged()));
      expect(emu.requestCount(CERTS)).toBe(3);
    });

    it('accepts a rotated-in key after exactly one refetch, once a cooldown has passed since the last fetch of any kind', async () => {
      const v = verifier({ keyRefetchCooldownMs: 30_000 });
      await v.verify(mint(emu, AUDIENCE));
      clock += 600_000; // max-age (600 s): a refresh, which restarts the cooldown
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(2);
      emu.rotateKeys();
      const early = mint(emu, AUDIENCE);
      expect((await rejection(v.verify(early))).reason).toBe('unknown_kid');
      expect(emu.requestCount(CERTS)).toBe(2);
      clock += 30_000;
      const rotated = Array.from({ length: 10 }, () => mint(emu, AUDIENCE));
      await expect(Promise.all(rotated.map((t) => v.verify(t)))).resolves.toHaveLength(10);
      await expect(v.verify(early)).resolves.toMatchObject({ signatureVerified: true });
      expect(emu.requestCount(CERTS)).toBe(3);
    });

    it('refreshes after max-age and keeps the stale keys, retrying once per cooldown, while the endpoint is down', async () => {
      const v = verifier({ keyRefetchCooldownMs: 30_000 });
      await v.verify(mint(emu, AUDIENCE));
      clock += 599_000;
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(1);
      clock += 1_000; // max-age (600 s) reached
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(2);

      clock += 600_000;
      emu.fail(CERTS, { mode: 'error', times: Infinity });
      await expect(v.verify(mint(emu, AUDIENCE))).resolves.toMatchObject({ signatureVerified: true });
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(3);
      clock += 30_000;
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(4);
    });

    it('times out a hanging fetch and reports keys_unavailable', async () => {
      const v = verifier({ keyFetchTimeoutMs: 100 });
      emu.fail(CERTS, { mode: 'hang', times: 1 });
      const error = await rejection(v.verify(mint(emu, AUDIENCE)));
      expect(error.reason).toBe('keys_unavailable');
      expect(error.message).toContain(emu.certsUrl);
      expect(logger.lines.at(-1)!.text).toMatch(/Fetching signing keys from .* failed \(TimeoutError/);
    });
  });

  it('uses only usable RS256 keys of a JWKS document', async () => {
    const good = emu.currentKid;
    const jwks = (await (await fetch(emu.certsUrl)).json()) as { keys: Record<string, string>[] };
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const smallKid = randomKid();
    const target = await startTarget((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          keys: [
            { ...small.publicKey.export({ format: 'jwk' }), kid: smallKid, alg: 'RS256' },
            { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec', alg: 'ES256' },
            { kty: 'RSA', kid: 'broken', n: 'AA', e: 'AQAB' },
            { ...jwks.keys[0], alg: 'RS512', kid: 'wrong-alg' },
            { ...jwks.keys[0], use: 'enc', kid: 'wrong-use' },
            null,
            ...jwks.keys,
          ],
        }),
      );
      return true;
    });
    try {
      const v = verifier({ certsUrl: target.url });
      await expect(v.verify(mint(emu, AUDIENCE))).resolves.toBeDefined();
      const weak = signRs256(small.privateKey, { alg: 'RS256', kid: smallKid }, claims(emu, AUDIENCE));
      expect((await rejection(v.verify(weak))).reason).toBe('unknown_kid');
      for (const kid of ['wrong-alg', 'wrong-use']) {
        expect((await rejection(v.verify(mint(emu, AUDIENCE, {}, { header: { kid } })))).reason, kid).toBe('unknown_kid');
      }
      expect(good).toBe(emu.currentKid);
    } finally {
      await target.close();
    }
  });

  it('validates its options', () => {
    expect(() => new IdTokenVerifier({} as never)).toThrow(CloudRunAuthConfigError);
    expect(() => new IdTokenVerifier({ audience: AUDIENCE, mode: 'none' as never })).toThrow(/mode/);
    expect(() => new IdTokenVerifier({ audience: AUDIENCE, certsUrl: 'http://example.com/certs' })).toThrow(/certsUrl/);
  });

  it('matches URL audiences with or without one trailing slash, other audiences exactly', async () => {
    const v = verifier({ audience: ['https://a.run.app/', 'https://b.run.app/push', 'my-client-id', 'https://c.run.app/x?y=1'] });
    for (const aud of ['https://a.run.app', 'https://a.run.app/', 'https://b.run.app/push', 'https://b.run.app/push/', 'my-client-id', 'https://c.run.app/x?y=1']) {
      await expect(v.verify(mint(emu, aud)), aud).resolves.toMatchObject({ audience: aud });
    }
    for (const aud of ['https://a.run.app//', 'https://b.run.app', 'my-client-id/', 'https://c.run.app/x?y=1/', 'https://A.run.app']) {
      expect((await rejection(v.verify(mint(emu, aud)))).reason, aud).toBe('invalid_audience');
    }
  });
});
