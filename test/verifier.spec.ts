import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cachedIdentity } from './utils/cached-identity.js';
import { CloudRunAuthConfigError, IdTokenVerifier, type IdTokenVerifierOptions } from '../lib/index.js';
import { SigningKeyStore } from '../lib/inbound/keys/signing-key.store.js';
import { JwksKeyStore } from '../lib/inbound/keys/jwks.key-store.js';
import { VerifiedTokenCache } from '../lib/inbound/verifier/verified-token.cache.js';
import type { Emulator } from '../lib/testing/index.js';
import { useClockedEmulator } from './utils/clocked-emulator.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { startTarget } from './utils/target.js';
import {
  attackerKey,
  claims,
  forgedCases,
  mint,
  payloadOf,
  randomKid,
  signRs256,
  withHeader,
  withPayload,
  rejection,
} from './utils/tokens.js';
import { CountingKeyStore } from './utils/key-lookups.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const CERTS = '/oauth2/v3/certs';
const GUARD_ONLY = new Set([
  'missing_token',
  'malformed_header',
  'duplicate_header',
  'header_too_large',
  'caller_not_allowed',
]);

describe('IdTokenVerifier', () => {
  let emu: Emulator;
  let clock: number;
  const verifier = (options: Partial<IdTokenVerifierOptions> = {}, keyStore?: SigningKeyStore) =>
    new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl, ...options }, keyStore);

  const logger = new CapturingLogger();

  useClockedEmulator(
    (running, now) => ((emu = running), (clock = now)),
    () => clock,
    logger,
  );

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
    const store = new CountingKeyStore(
      new JwksKeyStore({ certsUrl: emu.certsUrl, keyFetchTimeoutMs: 5000, keyRefetchCooldownMs: 30_000 }),
    );
    const v = verifier({}, store);
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
    const store = new CountingKeyStore(
      new JwksKeyStore({ certsUrl: emu.certsUrl, keyFetchTimeoutMs: 5000, keyRefetchCooldownMs: 30_000 }),
    );
    const v = verifier({ verifiedTokenCacheSize: 2 }, store);
    const [a, b, c] = [mint(emu, AUDIENCE), mint(emu, AUDIENCE), mint(emu, AUDIENCE)];
    for (const t of [a, b, a, c]) await v.verify(t); // a was used after b: b is evicted
    expect(store.lookups).toBe(3);
    await v.verify(a);
    expect(store.lookups).toBe(3);
    await v.verify(b);
    expect(store.lookups).toBe(4);
    const uncached = verifier({ verifiedTokenCacheSize: 0 }, store);
    await uncached.verify(a);
    await uncached.verify(a);
    expect(store.lookups).toBe(6);
  });

  it('never answers from the cache for a token that only shares its signature with a cached one', async () => {
    const store = new CountingKeyStore(
      new JwksKeyStore({ certsUrl: emu.certsUrl, keyFetchTimeoutMs: 5000, keyRefetchCooldownMs: 30_000 }),
    );
    const v = verifier({}, store);
    const token = mint(emu, AUDIENCE);
    await v.verify(token);
    const admin = withPayload(token, { ...payloadOf(token), email: 'admin@emulator-project.iam.gserviceaccount.com' });
    expect(cachedIdentity(v, admin)).toBeUndefined();
    expect((await rejection(v.verify(admin))).reason).toBe('bad_signature');
    expect((await rejection(v.verify(`${token.slice(0, 10)}${token}`))).reason).toBe('malformed');
    expect(store.lookups).toBe(2);
    await expect(v.verify(token)).resolves.toMatchObject({ email: emu.serviceAccountEmail });
    expect(store.lookups).toBe(2);
  });

  it('answers cachedIdentity() only for a token verify() accepted, until its exp, with one frozen identity whose Dates are fresh on each read', async () => {
    const v = verifier();
    const token = mint(emu, AUDIENCE, {}, { lifetimeSeconds: 600 });
    expect(cachedIdentity(v, token)).toBeUndefined();
    const verified = await v.verify(token);
    const cached = cachedIdentity(v, token)!;
    expect(cached).toBe(verified);
    expect(await v.verify(token)).toBe(verified);
    expect(Object.isFrozen(cached)).toBe(true);
    // A handler that changes a Date it was given changes nothing for the next request.
    const expiresAt = cached.expiresAt;
    expect(expiresAt.getTime()).toBe(Number(payloadOf(token).exp) * 1000);
    expect(cached.expiresAt).not.toBe(expiresAt);
    expiresAt.setTime(0);
    cached.issuedAt.setTime(0);
    expect(cachedIdentity(v, token)!.expiresAt.getTime()).toBe(Number(payloadOf(token).exp) * 1000);
    expect(cachedIdentity(v, token)!.issuedAt.getTime()).toBe(Number(payloadOf(token).iat) * 1000);
    expect({ ...cached }).toEqual(expect.objectContaining({ expiresAt: expect.any(Date), issuedAt: expect.any(Date) }));
    expect(JSON.parse(JSON.stringify(cached)).expiresAt).toBe(
      new Date(Number(payloadOf(token).exp) * 1000).toISOString(),
    );
    expect(Object.keys(cached)).toEqual([
      'source',
      'email',
      'subject',
      'audience',
      'issuer',
      'issuedAt',
      'expiresAt',
      'signatureVerified',
      'claims',
    ]);
    // Identities share their accessors, hence one hidden class: reading their fields stays fast.
    const other = await v.verify(mint(emu, AUDIENCE, { email: 'other@p.iam.gserviceaccount.com' }));
    const getter = (identity: object, name: string) => Object.getOwnPropertyDescriptor(identity, name)?.get;
    expect(getter(other, 'issuedAt')).toBe(getter(cached, 'issuedAt'));
    expect(getter(other, 'expiresAt')).toBe(getter(cached, 'expiresAt'));
    expect(other.issuedAt.getTime()).not.toBe(undefined);
    // Looked up inside a header value, without slicing it out; only at the token's exact start.
    expect(cachedIdentity(v, `Bearer ${token}`, 7)).toBe(verified);
    expect(cachedIdentity(v, `Bearer  ${token}`, 7)).toBeUndefined();
    expect(cachedIdentity(v, `Bearer ${token}x`, 7)).toBeUndefined();
    const rejected = mint(emu, 'https://other-service.a.run.app');
    expect((await rejection(v.verify(rejected))).reason).toBe('invalid_audience');
    expect(cachedIdentity(v, rejected)).toBeUndefined();
    expect(cachedIdentity(v, undefined as never)).toBeUndefined();
    clock += 600_000;
    expect(cachedIdentity(v, token)).toBeUndefined();
  });

  it("caches tokens whose signature Cloud Run removed each under its own entry ('cloud-run-iam' mode)", async () => {
    const v = verifier({ mode: 'cloud-run-iam' });
    const stripped = (email: string, aud = AUDIENCE) => mint(emu, aud, { email }, { stripSignature: true });
    const [a, b] = [stripped('a@p.iam.gserviceaccount.com'), stripped('b@p.iam.gserviceaccount.com')];
    await v.verify(a);
    await v.verify(b);
    expect(cachedIdentity(v, a)?.email).toBe('a@p.iam.gserviceaccount.com');
    expect(cachedIdentity(v, b)?.email).toBe('b@p.iam.gserviceaccount.com');
    expect((await rejection(v.verify(stripped('a@p.iam.gserviceaccount.com', 'https://other.a.run.app')))).reason).toBe(
      'invalid_audience',
    );
    expect(emu.requestCount(CERTS)).toBe(0);
  });

  it('caches no rejection: a token rejected for unknown keys is accepted once keys are back', async () => {
    const v = verifier();
    const token = mint(emu, AUDIENCE);
    emu.fail(CERTS, { mode: 'error', times: 1 });
    expect((await rejection(v.verify(token))).reason).toBe('keys_unavailable');
    // Nothing cached: the next fetch waits a cooldown; meanwhile keys_unavailable comes at once.
    expect((await rejection(v.verify(token))).reason).toBe('keys_unavailable');
    expect(emu.requestCount(CERTS)).toBe(1);
    clock += 30_000;
    await expect(v.verify(token)).resolves.toMatchObject({ signatureVerified: true });
  });

  it('refreshes the keys in the background before max-age, while verifications go on with the current ones', async () => {
    const v = verifier();
    await v.verify(mint(emu, AUDIENCE));
    expect(emu.requestCount(CERTS)).toBe(1);
    clock += 541_000; // past nine tenths of max-age (600 s)
    emu.fail(CERTS, { mode: 'hang', times: 1 });
    const started = Date.now();
    await expect(v.verify(mint(emu, AUDIENCE))).resolves.toMatchObject({ signatureVerified: true });
    // Verified with the current keys: the refresh (hung here) was not waited for (keyFetchTimeoutMs is 5 s).
    expect(Date.now() - started).toBeLessThan(1000);
    await expect.poll(() => emu.requestCount(CERTS)).toBe(2);
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
      clock += 600_000; // max-age (600 s): a background refresh, which restarts the cooldown
      await v.verify(mint(emu, AUDIENCE));
      await expect.poll(() => emu.requestCount(CERTS)).toBe(2);
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

    it('refreshes in the last tenth of max-age and keeps the stale keys, retrying once per cooldown, while the endpoint is down', async () => {
      const v = verifier({ keyRefetchCooldownMs: 30_000 });
      await v.verify(mint(emu, AUDIENCE));
      clock += 539_000;
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(1);
      clock += 1_000; // nine tenths of max-age (600 s): a background refresh
      await v.verify(mint(emu, AUDIENCE));
      await expect.poll(() => emu.requestCount(CERTS)).toBe(2);

      clock += 600_000; // past the new set's max-age
      emu.fail(CERTS, { mode: 'error', times: Infinity });
      await expect(v.verify(mint(emu, AUDIENCE))).resolves.toMatchObject({ signatureVerified: true });
      await expect
        .poll(() => logger.lines.at(-1)?.text)
        .toMatch(/Refreshing signing keys .* still using the \d+ cached key/);
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(3);
      clock += 30_000;
      await v.verify(mint(emu, AUDIENCE));
      await expect.poll(() => emu.requestCount(CERTS)).toBe(4);
    });

    it('starts the background refresh at least keyFetchTimeoutMs before max-age, when that is more than a tenth of it', async () => {
      const v = verifier({ keyFetchTimeoutMs: 120_000 });
      await v.verify(mint(emu, AUDIENCE));
      clock += 479_000;
      await v.verify(mint(emu, AUDIENCE));
      expect(emu.requestCount(CERTS)).toBe(1);
      clock += 1_000; // 120 s before max-age (600 s): a fetch taking its whole timeout still lands in time
      await v.verify(mint(emu, AUDIENCE));
      await expect.poll(() => emu.requestCount(CERTS)).toBe(2);
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
        expect((await rejection(v.verify(mint(emu, AUDIENCE, {}, { header: { kid } })))).reason, kid).toBe(
          'unknown_kid',
        );
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
    const v = verifier({
      audience: ['https://a.run.app/', 'https://b.run.app/push', 'my-client-id', 'https://c.run.app/x?y=1'],
    });
    for (const aud of [
      'https://a.run.app',
      'https://a.run.app/',
      'https://b.run.app/push',
      'https://b.run.app/push/',
      'my-client-id',
      'https://c.run.app/x?y=1',
    ]) {
      await expect(v.verify(mint(emu, aud)), aud).resolves.toMatchObject({ audience: aud });
    }
    for (const aud of [
      'https://a.run.app//',
      'https://b.run.app',
      'my-client-id/',
      'https://c.run.app/x?y=1/',
      'https://A.run.app',
    ]) {
      expect((await rejection(v.verify(mint(emu, aud)))).reason, aud).toBe('invalid_audience');
    }
  });
});

describe('VerifiedTokenCache', () => {
  // Token-like strings: a shared beginning, and endings (the "signatures") of 342 characters.
  const token = (i: number, ending = `${i}`.padStart(342, 'S')) => `header.payload-${i}.${ending}`;

  it('holds at most maxEntries and evicts the least recently used entry', () => {
    const cache = new VerifiedTokenCache<number>(8);
    for (let i = 0; i < 8; i += 1) cache.set(token(i), i, Infinity);
    expect(cache.get(token(0), 0)).toBe(0); // the oldest, used again
    cache.set(token(8), 8, Infinity);
    expect(cache.size).toBe(8);
    expect(cache.get(token(1), 0)).toBeUndefined();
    for (const i of [0, 2, 3, 4, 5, 6, 7, 8]) expect(cache.get(token(i), 0), `${i}`).toBe(i);
    for (let i = 9; i < 100; i += 1) {
      cache.set(token(i), i, Infinity);
      expect(cache.get(token(8), 0)).toBe(8); // in use all along: never evicted
    }
    expect(cache.size).toBe(8);
  });

  it('is an exact LRU when small', () => {
    const cache = new VerifiedTokenCache<number>(3);
    for (const i of [0, 1, 2]) cache.set(token(i), i, Infinity);
    for (const i of [0, 1]) cache.get(token(i), 0); // 2 is now the least recent
    cache.set(token(3), 3, Infinity);
    expect([0, 1, 2, 3].map((i) => cache.get(token(i), 0))).toEqual([0, 1, undefined, 3]);
  });

  it('answers only for the very token stored, even when another ends the same way', () => {
    const cache = new VerifiedTokenCache<string>(8);
    const ending = 'E'.repeat(342);
    const [a, b] = [token(1, ending), token(2, ending)];
    cache.set(a, 'a', Infinity);
    expect(cache.get(b, 0)).toBeUndefined();
    expect(cache.get(a, 0)).toBe('a');
    cache.set(b, 'b', Infinity); // takes a's place
    expect(cache.get(a, 0)).toBeUndefined();
    expect(cache.get(b, 0)).toBe('b');
  });

  it('keys tokens ending in the shared suffix by the whole token', () => {
    const cache = new VerifiedTokenCache<string>(8, 'SIGNATURE_REMOVED_BY_GOOGLE');
    const [a, b] = [token(1, 'SIGNATURE_REMOVED_BY_GOOGLE'), token(2, 'SIGNATURE_REMOVED_BY_GOOGLE')];
    cache.set(a, 'a', Infinity);
    cache.set(b, 'b', Infinity);
    expect([cache.get(a, 0), cache.get(b, 0), cache.size]).toEqual(['a', 'b', 2]);
    // Ending like the suffix's last characters only: keyed by their hash, as any other token.
    const [c, d] = [token(3, 'XIGNATURE_REMOVED_BY_GOOGLE'), token(4, 'XIGNATURE_REMOVED_BY_GOOGLE')];
    cache.set(c, 'c', Infinity);
    cache.set(d, 'd', Infinity); // takes c's place
    expect([cache.get(c, 0), cache.get(d, 0), cache.size]).toEqual([undefined, 'd', 3]);
    expect(() => new VerifiedTokenCache<string>(8, 'SHORT')).toThrow(RangeError);
  });

  it('finds a token inside a header value at its offset only, whatever text it was last found in', () => {
    const cache = new VerifiedTokenCache<string>(8);
    const a = token(1);
    cache.set(a, 'a', Infinity);
    const header = `Bearer ${a}`;
    // A copy, as each request's header value is a string of its own.
    const again = `Bearer ${a.slice(0, 10)}${a.slice(10)}`;
    expect([cache.get(header, 0, 7), cache.get(again, 0, 7), cache.get(`bearer  ${a}`, 0, 8)]).toEqual(['a', 'a', 'a']);
    // The same texts at another offset are other tokens.
    expect([cache.get(again, 0, 0), cache.get(again, 0, 6), cache.get(again, 0, 8)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect([cache.get(`Bearer ${a}x`, 0, 7), cache.get(`Bearer ${a.replace('header', 'Header')}`, 0, 7)]).toEqual([
      undefined,
      undefined,
    ]);
    expect([cache.get(a, 0), cache.get(again, 0, 7)]).toEqual(['a', 'a']);
  });

  it('drops an entry once it has expired, and caches nothing with maxEntries 0', () => {
    const cache = new VerifiedTokenCache<number>(8);
    cache.set(token(1), 1, 1000);
    expect(cache.get(token(1), 999)).toBe(1);
    expect(cache.get(token(1), 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
    const none = new VerifiedTokenCache<number>(0);
    none.set(token(1), 1, Infinity);
    expect([none.get(token(1), 0), none.size]).toEqual([undefined, 0]);
  });
});
