import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IapAssertionVerifier, IdTokenVerifier } from '../lib/index.js';
import { JwksKeyStore } from '../lib/inbound/keys/jwks.key-store.js';
import { VerifiedTokenCache } from '../lib/inbound/verifier/verified-token.cache.js';
import { decodeCanonicalJwt, decodeJwt } from '../lib/shared/jwt/jwt.codec.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { mint, mintIap, rejection } from './utils/tokens.js';
import { CountingKeyStore } from './utils/key-lookups.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const IAP_AUDIENCE = '/projects/123456789012/global/backendServices/4567890123';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The order of P-256: `s` and `n - s` are both valid ECDSA signatures of the same message. */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/**
 * Every other spelling of `token` that a base64url decoder reads as the same bytes: the trailing
 * bits of each segment's last character set in every way, each segment padded, and base64's
 * `+` and `/` for `-` and `_`.
 */
function spellings(token: string): { trailingBits: string[]; padded: string[]; base64: string[] } {
  const segments = token.split('.');
  const replaced = (i: number, segment: string) => segments.map((s, j) => (j === i ? segment : s)).join('.');
  const trailingBits: string[] = [];
  const padded: string[] = [];
  segments.forEach((segment, i) => {
    const spare = [0, 0, 4, 2][segment.length % 4]!;
    const last = ALPHABET.indexOf(segment.at(-1)!);
    for (let bits = 1; bits < 1 << spare; bits++) {
      trailingBits.push(replaced(i, segment.slice(0, -1) + ALPHABET[last | bits]));
    }
    if (spare > 0) padded.push(replaced(i, segment + '='.repeat(4 - (segment.length % 4))));
  });
  const base64 = /[-_]/.test(token) ? [token.replace(/-/g, '+').replace(/_/g, '/')] : [];
  return { trailingBits, padded, base64 };
}

/** The bytes of each segment: the same for every spelling of one token. */
const bytesOf = (token: string) => token.split('.').map((s) => Buffer.from(s, 'base64url').toString('hex'));

/** What a verifier's verified-token cache holds: each entry's text and offset. */
function cachedTexts(verifier: IdTokenVerifier | IapAssertionVerifier): { text: string; offset: number }[] {
  const cache: VerifiedTokenCache<unknown> = verifier.verification.verifiedTokens;
  const entries = (cache as unknown as { entries: Map<unknown, { text: string; offset: number }> }).entries;
  return [...entries.values()].map(({ text, offset }) => ({ text, offset }));
}

describe('one spelling per token', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(() => emu?.close());

  it('the decoder for verification refuses every other spelling of a token, by a character per segment; decodeJwt stays lenient', () => {
    const token = mint(emu, AUDIENCE);
    const { trailingBits, padded, base64 } = spellings(token);
    // An RS256 signature (256 bytes, 342 characters) has 4 spare bits: 15 other spellings of it alone.
    expect(token.split('.')[2]!.length % 4).toBe(2);
    expect(trailingBits.filter((t) => t.split('.')[2] !== token.split('.')[2])).toHaveLength(15);
    for (const variant of [...trailingBits, ...padded, ...base64]) {
      expect(bytesOf(variant), variant).toEqual(bytesOf(token));
      expect(decodeCanonicalJwt(variant), variant).toBe('non_canonical');
    }
    expect(decodeCanonicalJwt(token)).toEqual(decodeJwt(token));
    expect(decodeJwt(trailingBits[0]!)).toBeDefined();
    // A segment of 1 mod 4 characters encodes no bytes at all.
    expect(decodeCanonicalJwt(`${token}AAA`)).toBe('non_canonical');
    // Not a spelling of anything: malformed, as before.
    for (const junk of ['not-a-jwt', 'a.b', `${token}.x`, `${token} `, '', 'é.é.é', `${token.slice(0, 10)}${token}`]) {
      expect(decodeCanonicalJwt(junk), junk).toBe('malformed');
    }
    // Cloud Run's stripped-signature marker is canonical (27 characters, ends in a character with its low bits zero).
    expect(decodeCanonicalJwt(mint(emu, AUDIENCE, {}, { stripSignature: true }))).not.toBeTypeOf('string');
  });

  it('an ID token: each other spelling is refused (non_canonical_encoding) before any key lookup; the cache keeps one entry', async () => {
    const store = new CountingKeyStore(
      new JwksKeyStore({ certsUrl: emu.certsUrl, keyFetchTimeoutMs: 5000, keyRefetchCooldownMs: 30_000 }),
    );
    const verifier = new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl }, store);
    const token = mint(emu, AUDIENCE);
    await verifier.verify(token);
    expect(store.lookups).toBe(1);
    const { trailingBits, padded, base64 } = spellings(token);
    const variants = [...trailingBits, ...padded, ...base64];
    for (const variant of variants) {
      const error = await rejection(verifier.verify(variant));
      expect(error.reason, variant).toBe('non_canonical_encoding');
      expect(error.message).not.toContain(variant.split('.')[2]);
    }
    expect(store.lookups).toBe(1);
    expect(cachedTexts(verifier)).toHaveLength(1);
    await verifier.verify(token);
    expect(store.lookups).toBe(1);
  });

  it('an IAP assertion: the same; and the high-S twin of an ES256 signature is still accepted', async () => {
    const store = new CountingKeyStore(
      new JwksKeyStore({
        certsUrl: emu.iapCertsUrl,
        keyFetchTimeoutMs: 5000,
        keyRefetchCooldownMs: 30_000,
        algorithm: 'ES256',
      }),
    );
    const verifier = new IapAssertionVerifier({ audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl }, store);
    const assertion = mintIap(emu, IAP_AUDIENCE);
    await verifier.verify(assertion);
    const { trailingBits, padded, base64 } = spellings(assertion);
    expect(trailingBits.filter((t) => t.split('.')[2] !== assertion.split('.')[2])).toHaveLength(15);
    for (const variant of [...trailingBits, ...padded, ...base64]) {
      expect((await rejection(verifier.verify(variant))).reason, variant).toBe('non_canonical_encoding');
    }
    expect(store.lookups).toBe(1);

    // ECDSA signers do not normalise S: (r, n - s) is as valid as (r, s), and canonically spelt.
    const signature = Buffer.from(assertion.split('.')[2]!, 'base64url');
    const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
    const highS = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
    const twin = `${assertion.slice(0, assertion.lastIndexOf('.'))}.${Buffer.concat([signature.subarray(0, 32), highS]).toString('base64url')}`;
    expect(twin).not.toBe(assertion);
    await expect(verifier.verify(twin)).resolves.toMatchObject({ email: 'alice@example.com', source: 'iap' });
    expect(store.lookups).toBe(2);
  });
});

describe('bounded header handling behind the guard', () => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
  });
  afterAll(() => emu?.close());

  const start = async () =>
    (guarded = await startGuardedApp('fastify', {
      inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl },
    }));

  it('accepts one or more spaces after Bearer; an entry keeps at most the token and `Bearer `, whatever the header carried', async () => {
    const { call, app } = await start();
    const verifier = app.get(IdTokenVerifier);
    const usual = mint(emu, AUDIENCE);
    const twoSpaces = mint(emu, AUDIENCE);
    const padded = mint(emu, AUDIENCE);
    const spaces = ' '.repeat(7 * 1024);
    expect(`Bearer${spaces}${padded}`.length).toBeLessThanOrEqual(8192); // within maxHeaderBytes
    for (let i = 0; i < 3; i++) {
      // Verified the first time, answered from the cache after.
      expect((await call('/guarded/me', { authorization: `Bearer ${usual}` })).status).toBe(200);
      expect((await call('/guarded/me', { authorization: `Bearer  ${twoSpaces}` })).status).toBe(200);
      expect((await call('/guarded/me', { authorization: `Bearer${spaces}${padded}` })).status).toBe(200);
    }
    const texts = cachedTexts(verifier);
    expect(texts).toHaveLength(3);
    const byToken = (token: string) => texts.find(({ text, offset }) => text.slice(offset) === token)!;
    // The usual header is kept whole, so that the next one compares as one string.
    expect(byToken(usual)).toEqual({ text: `Bearer ${usual}`, offset: 7 });
    expect(byToken(twoSpaces)).toEqual({ text: twoSpaces, offset: 0 });
    expect(byToken(padded)).toEqual({ text: padded, offset: 0 });
    for (const { text, offset } of texts) expect(text.length - offset).toBeLessThanOrEqual(1024);
  });

  it('an other spelling of a cached token is a miss, refused with non_canonical_encoding', async () => {
    const { call, logger } = await start();
    const token = mint(emu, AUDIENCE);
    expect((await call('/guarded/me', { authorization: `Bearer ${token}` })).status).toBe(200);
    const [variant] = spellings(token).trailingBits.filter((t) => t.split('.')[2] !== token.split('.')[2]);
    const reply = await call('/guarded/me', { authorization: `Bearer ${variant}` });
    expect(reply.status).toBe(401);
    expect(reply.wwwAuthenticate).toBe('Bearer error="invalid_token"');
    expect(logger.rejections().at(-1)).toContain('reason=non_canonical_encoding');
    expect(logger.lines.map((l) => l.text).join('\n')).not.toContain(variant!.split('.')[2]);
  });
});

describe('verified-token cache memory', () => {
  it('a token sliced out of a 7 KB header costs its own size, not the header', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const entries = 500;
    const cache = new VerifiedTokenCache<number>(entries);
    const spaces = ' '.repeat(7 * 1024);
    const token = (i: number) =>
      `eyJ${i.toString(36).padStart(8, '0')}${'x'.repeat(900)}${i.toString(36).padStart(16, '0')}`;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < entries; i++) {
      // Each header a string of its own, as a request's; the token sliced out of it, as the guard does.
      const header = `Bearer${spaces}${token(i)}`.split('').join('');
      const offset = header.length - token(i).length;
      cache.set(header.slice(offset), i, Date.now() + 3600_000);
      expect(cache.get(header, Date.now(), offset)).toBe(i);
    }
    gc();
    const perEntry = (process.memoryUsage().heapUsed - before) / entries;
    expect(cache.size).toBe(entries);
    // A token of ~930 characters plus the entry: far below the 8 KB header each came in.
    expect(perEntry).toBeLessThan(2048);
  });
});
