import { createPublicKey, generateKeyPairSync, verify as verifySignature, type JsonWebKeyInput } from 'node:crypto';
import { OAuth2Client } from 'google-auth-library';
import { describe, expect, it } from 'vitest';
import { cachedIdentity } from './utils/cached-identity.js';
import {
  CloudRunAuthConfigError,
  IapAssertionVerifier,
  IdTokenVerifier,
  type IapAssertionVerifierOptions,
} from '../lib/index.js';
import { compileAllowList } from '../lib/inbound/allowed-callers.matcher.js';
import { resolveInboundOptions } from '../lib/inbound/inbound.options.js';
import type { Emulator } from '../lib/testing/index.js';
import { useClockedEmulator } from './utils/clocked-emulator.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { startTarget } from './utils/target.js';
import {
  attackerIapKey,
  forgedIapCases,
  IAP_ISSUER,
  iapClaims,
  mintIap,
  p1363ToDer,
  payloadOf,
  randomKid,
  signEs256,
  withSignature,
  rejection,
} from './utils/tokens.js';

const AUDIENCE = '/projects/123456789012/locations/europe-west1/services/orders';
const LB_AUDIENCE = '/projects/123456789012/global/backendServices/4567890123456';
const ID_AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const IAP_CERTS = '/iap/verify/public_key-jwk';

/** Expects `build` to throw a `CloudRunAuthConfigError` naming `field`, with a message matching `message`. */
function expectConfigError(build: () => unknown, field: string, message: RegExp): void {
  expect(build).toThrow(CloudRunAuthConfigError);
  expect(build).toThrow(message);
  try {
    build();
  } catch (error) {
    expect((error as CloudRunAuthConfigError).field).toBe(field);
  }
}

describe('IapAssertionVerifier', () => {
  let emu: Emulator;
  let clock: number;
  const verifier = (options: Partial<IapAssertionVerifierOptions> = {}) =>
    new IapAssertionVerifier({ audience: [AUDIENCE, LB_AUDIENCE], certsUrl: emu.iapCertsUrl, ...options });

  useClockedEmulator(
    (running, now) => ((emu = running), (clock = now)),
    () => clock,
    new CapturingLogger(),
  );

  it("returns the user's identity, source 'iap', with hd and google among the claims", async () => {
    const assertion = mintIap(emu, AUDIENCE, {
      hd: 'example.com',
      google: { access_levels: ['accessPolicies/1/accessLevels/corp'] },
    });
    const v = verifier();
    const identity = await v.verify(assertion);
    const claims = payloadOf(assertion);
    expect(identity).toEqual({
      source: 'iap',
      email: 'alice@example.com',
      subject: claims.sub,
      audience: AUDIENCE,
      issuer: IAP_ISSUER,
      issuedAt: new Date((claims.iat as number) * 1000),
      expiresAt: new Date((claims.exp as number) * 1000),
      signatureVerified: true,
      claims,
    });
    expect(identity.subject).toMatch(/^accounts\.google\.com:\d+$/);
    expect(identity.claims.hd).toBe('example.com');
    expect(Object.isFrozen(identity.claims.google)).toBe(true);
    await expect(v.verify(mintIap(emu, LB_AUDIENCE))).resolves.toMatchObject({ audience: LB_AUDIENCE });
    // Keys come from IAP's JWKS only, fetched lazily, once.
    expect(emu.requestCount(IAP_CERTS)).toBe(1);
    expect(emu.requestCount('/oauth2/v3/certs')).toBe(0);
  });

  it('rejects every forged, broken or unacceptable assertion with the expected reason, never echoing it', async () => {
    const v = verifier();
    const cases = forgedIapCases(emu, AUDIENCE, ID_AUDIENCE);
    expect(cases.length).toBeGreaterThanOrEqual(35);
    const outcomes: string[] = [];
    for (const [name, token] of cases) {
      const error = await rejection(v.verify(token));
      outcomes.push(`${name}: ${error.reason}`);
      expect(error.message, name).not.toContain(token);
    }
    expect(outcomes).toEqual(cases.map(([name, , reason]) => `${name}: ${reason}`));
  });

  it('checks the signature as JWS does: 64 raw bytes, the same signature in DER refused', async () => {
    const v = verifier();
    const good = mintIap(emu, AUDIENCE);
    const raw = Buffer.from(good.split('.')[2]!, 'base64url');
    expect(raw).toHaveLength(64);
    await expect(v.verify(good)).resolves.toMatchObject({ signatureVerified: true });
    const der = p1363ToDer(raw);
    // The very signature, re-encoded: node:crypto accepts it as DER.
    const { keys } = (await (await fetch(emu.iapCertsUrl)).json()) as { keys: JsonWebKeyInput['key'][] };
    const key = createPublicKey({ key: keys[0]!, format: 'jwk' });
    const input = Buffer.from(good.slice(0, good.lastIndexOf('.')));
    expect(verifySignature('sha256', input, { key, dsaEncoding: 'der' }, der)).toBe(true);
    expect((await rejection(v.verify(withSignature(mintIap(emu, AUDIENCE), der)))).reason).toBe('bad_signature');
  });

  it('applies the clock tolerance to exp and iat, and caches an accepted assertion until its exp', async () => {
    const now = Math.floor(clock / 1000);
    const v = verifier({ clockToleranceSeconds: 60 });
    const late = mintIap(emu, AUDIENCE, { iat: now - 640, exp: now - 40 });
    await expect(v.verify(late)).resolves.toMatchObject({ source: 'iap' });
    const early = mintIap(emu, AUDIENCE, { iat: now + 50, exp: now + 650 });
    await expect(v.verify(early)).resolves.toBeDefined();
    expect(cachedIdentity(v, early)).toMatchObject({ source: 'iap', email: 'alice@example.com' });
    const fetches = emu.requestCount(IAP_CERTS);
    await v.verify(early);
    expect(emu.requestCount(IAP_CERTS)).toBe(fetches);
    clock += 651_000 + 60_000;
    expect(cachedIdentity(v, early)).toBeUndefined();
  });

  it('uses only EC P-256 keys for ES256 from its JWKS, and never the keys of the other token kind', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const iapJwks = (await (await fetch(emu.iapCertsUrl)).json()) as { keys: Record<string, string>[] };
    const attackerJwk = { ...attackerIapKey.publicKey.export({ format: 'jwk' }), use: 'sig' };
    const target = await startTarget((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          keys: [
            { ...p384.publicKey.export({ format: 'jwk' }), kid: 'p384' },
            { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa', alg: 'ES256' },
            { ...attackerJwk, kid: 'wrong-alg', alg: 'ES384' },
            { ...attackerJwk, kid: 'wrong-use', use: 'enc' },
            { ...attackerJwk, kid: 'wrong-crv', crv: 'P-384' },
            { kty: 'EC', crv: 'P-256', kid: 'broken', x: 'AA', y: 'AA' },
            null,
            ...iapJwks.keys,
          ],
        }),
      );
      return true;
    });
    try {
      const v = verifier({ certsUrl: target.url });
      await expect(v.verify(mintIap(emu, AUDIENCE))).resolves.toBeDefined();
      for (const kid of ['p384', 'rsa', 'wrong-alg', 'wrong-use', 'wrong-crv', 'broken']) {
        const forged = signEs256(attackerIapKey.privateKey, { alg: 'ES256', kid }, iapClaims(AUDIENCE));
        expect((await rejection(v.verify(forged))).reason, kid).toBe('unknown_kid');
      }
    } finally {
      await target.close();
    }
    // Google's ID-token JWKS holds no ES256 key, and IAP's no RS256 key: neither verifies the other's tokens.
    const onGoogleKeys = await rejection(verifier({ certsUrl: emu.certsUrl }).verify(mintIap(emu, AUDIENCE)));
    expect(onGoogleKeys.reason).toBe('keys_unavailable');
    const idVerifier = new IdTokenVerifier({ audience: ID_AUDIENCE, certsUrl: emu.iapCertsUrl });
    const onIapKeys = await rejection(idVerifier.verify(emu.mintIdToken({ aud: ID_AUDIENCE })));
    expect(onIapKeys.reason).toBe('keys_unavailable');
  });

  it('shares the key store behaviour: an unknown kid refetches at most once per cooldown, a stale key set survives an outage', async () => {
    const v = verifier({ keyRefetchCooldownMs: 30_000 });
    await v.verify(mintIap(emu, AUDIENCE));
    const forged = () => signEs256(attackerIapKey.privateKey, { alg: 'ES256', kid: randomKid() }, iapClaims(AUDIENCE));
    for (let i = 0; i < 20; i += 1) expect((await rejection(v.verify(forged()))).reason).toBe('unknown_kid');
    expect(emu.requestCount(IAP_CERTS)).toBe(1);
    clock += 30_000;
    await rejection(v.verify(forged()));
    expect(emu.requestCount(IAP_CERTS)).toBe(2);

    clock += 600_000; // past max-age, and the endpoint is down
    emu.fail(IAP_CERTS, { mode: 'error', times: Infinity });
    const iat = Math.floor(clock / 1000);
    await expect(v.verify(mintIap(emu, AUDIENCE, { iat, exp: iat + 600 }))).resolves.toMatchObject({ source: 'iap' });
    await expect.poll(() => emu.requestCount(IAP_CERTS)).toBe(3);
  });

  it("matches google-auth-library's IAP verification (getIapPublicKeys + verifySignedJwtWithCertsAsync)", async () => {
    const client = new OAuth2Client({ endpoints: { oauth2IapPublicKeyUrl: emu.iapPemKeysUrl } });
    const { pubkeys } = await client.getIapPublicKeysAsync();
    const assertion = mintIap(emu, AUDIENCE);
    const ticket = await client.verifySignedJwtWithCertsAsync(assertion, pubkeys, AUDIENCE, [IAP_ISSUER]);
    expect(ticket.getPayload()).toMatchObject({ email: 'alice@example.com', aud: AUDIENCE });
    await expect(verifier().verify(assertion)).resolves.toMatchObject({ email: 'alice@example.com' });
    // Both refuse the same forgery.
    const forged = signEs256(
      attackerIapKey.privateKey,
      { alg: 'ES256', kid: Object.keys(pubkeys)[0] },
      iapClaims(AUDIENCE),
    );
    await expect(client.verifySignedJwtWithCertsAsync(forged, pubkeys, AUDIENCE, [IAP_ISSUER])).rejects.toThrow(
      /Invalid token signature/,
    );
    expect((await rejection(verifier().verify(forged))).reason).toBe('bad_signature');
  });

  it.each([
    ['nothing', {}, 'audience', /is required: IAP's audience/],
    ['a service URL', { audience: ID_AUDIENCE }, 'audience', /entries must be IAP audiences/],
    ['a trailing slash', { audience: `${AUDIENCE}/` }, 'audience', /entries must be IAP audiences/],
    [
      'a project id for the number',
      { audience: '/projects/my-project/locations/us-central1/services/orders' },
      'audience',
      /IAP audiences/,
    ],
    [
      'a non-numeric backend service',
      { audience: '/projects/1/global/backendServices/orders' },
      'audience',
      /IAP audiences/,
    ],
    ['an App Engine audience', { audience: '/projects/1/apps/my-project' }, 'audience', /IAP audiences/],
    [
      'an upper-case service name',
      { audience: '/projects/1/locations/us-central1/services/Orders' },
      'audience',
      /IAP audiences/,
    ],
    ['mode', { audience: AUDIENCE, mode: 'cloud-run-iam' }, 'mode', /unknown option/],
    ['a clear-text certsUrl', { audience: AUDIENCE, certsUrl: 'http://keys.example.com/jwk' }, 'certsUrl', /https/],
    ['a negative tolerance', { audience: AUDIENCE, clockToleranceSeconds: -1 }, 'clockToleranceSeconds', /0 to 300/],
  ])('refuses options with %s', (_name, options, field, message) => {
    expectConfigError(() => new IapAssertionVerifier(options as never), field, message);
  });

  it("defaults to IAP's keys and the same cache and key settings as ID tokens", () => {
    expect(new IapAssertionVerifier({ audience: AUDIENCE }).verification.options).toEqual({
      audiences: [AUDIENCE],
      acceptedAudiences: new Set([AUDIENCE]),
      certsUrl: 'https://www.gstatic.com/iap/verify/public_key-jwk',
      clockToleranceSeconds: 30,
      verifiedTokenCacheSize: 1000,
      keyFetchTimeoutMs: 5000,
      keyRefetchCooldownMs: 30_000,
    });
  });
});

describe('inbound.iap options', () => {
  const iap = { audience: AUDIENCE };

  it('makes audience optional, and takes the key and cache options of inbound', () => {
    const options = resolveInboundOptions({
      iap: { ...iap, certsUrl: 'https://iap-keys.example.com/jwk' },
      allowedCallers: ['alice@example.com'],
      clockToleranceSeconds: 10,
      keyRefetchCooldownMs: 1000,
      verifiedTokenCacheSize: 5,
    })!;
    expect(options.verifier.audiences).toEqual([]);
    expect(options.iap).toMatchObject({
      audiences: [AUDIENCE],
      certsUrl: 'https://iap-keys.example.com/jwk',
      clockToleranceSeconds: 10,
      keyRefetchCooldownMs: 1000,
      verifiedTokenCacheSize: 5,
    });
    // The same object is handed to the verifier as is.
    expect(new IapAssertionVerifier(options.iap!).verification.options).toBe(options.iap);
    expect(resolveInboundOptions({ audience: ID_AUDIENCE, allowAnyCaller: true })!.iap).toBeUndefined();
  });

  it.each([
    [
      'neither audience nor iap',
      { allowedCallers: ['a@p.iam.gserviceaccount.com'] },
      'inbound.audience',
      /inbound\.iap alone/,
    ],
    ['iap not an object', { iap: 'yes', allowAnyCaller: true }, 'inbound.iap', /must be an object/],
    ['iap without audience', { iap: {}, allowAnyCaller: true }, 'inbound.iap.audience', /is required: IAP's audience/],
    [
      'a URL as IAP audience',
      { iap: { audience: ID_AUDIENCE }, allowAnyCaller: true },
      'inbound.iap.audience',
      /IAP audiences/,
    ],
    [
      'an unknown iap option',
      { iap: { ...iap, clockToleranceSeconds: 5 }, allowAnyCaller: true },
      'inbound.iap.clockToleranceSeconds',
      /unknown option/,
    ],
    [
      'a clear-text iap.certsUrl',
      { iap: { ...iap, certsUrl: 'http://iap.example.com/jwk' }, allowAnyCaller: true },
      'inbound.iap.certsUrl',
      /https/,
    ],
    [
      'cloud-run-iam without ID tokens',
      { iap, mode: 'cloud-run-iam', allowAnyCaller: true },
      'inbound.mode',
      /applies to ID tokens/,
    ],
    [
      'a domain of people without iap',
      { audience: ID_AUDIENCE, allowedCallers: ['*@example.com'] },
      'inbound.allowedCallers',
      /Identity-Aware Proxy only/,
    ],
    [
      'a consumer domain',
      { iap, allowedCallers: ['*@gmail.com'] },
      'inbound.allowedCallers',
      /neither an email address nor/,
    ],
  ])('refuses %s', (_name, inbound, field, message) => {
    expectConfigError(() => resolveInboundOptions(inbound as never), field, message);
  });
});

describe('allow-lists for IAP callers', () => {
  it('match people and domains for IAP callers only; service-account rules for both', () => {
    const list = compileAllowList(
      ['Alice@Example.com', '*@Corp.Example', '*@batch-project.iam.gserviceaccount.com'],
      'x',
    );
    expect(list.patterns).toEqual(['alice@example.com', '*@batch-project.iam.gserviceaccount.com', '*@corp.example']);
    for (const source of ['iap', 'id-token'] as const) {
      expect(list.matches('alice@example.com', source)).toBe(true);
      expect(list.matches('job@batch-project.iam.gserviceaccount.com', source)).toBe(true);
      expect(list.matches('bob@example.com', source)).toBe(false);
    }
    expect(list.matches('carol@corp.example', 'iap')).toBe(true);
    expect(list.matches('CAROL@CORP.EXAMPLE', 'iap')).toBe(true);
    expect(list.matches('carol@corp.example', 'id-token')).toBe(false);
    expect(list.matches('carol@corp.example')).toBe(false);
    expect(list.matches('carol@sub.corp.example', 'iap')).toBe(false);
    expect(list.matches('carol@corp.example@evil.example', 'iap')).toBe(false);
  });

  it.each([
    '*@gmail.com',
    '*@googlemail.com',
    '*@gserviceaccount.com',
    '*@appspot.gserviceaccount.com',
    '*@corp',
    '*@*.corp.example',
    '*@-corp.example',
  ])('refuses %j', (pattern) => {
    expect(() => compileAllowList([pattern], 'x')).toThrow(CloudRunAuthConfigError);
  });
});
