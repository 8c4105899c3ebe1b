import { describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { PLATFORMS, SPECIAL_CALLER, useGuardedApps, type GuardedApp } from './utils/guarded-app.js';
import {
  attackerIapKey,
  forgedIapCases,
  IAP_ISSUER,
  iapClaims,
  mint,
  mintIap,
  payloadOf,
  randomKid,
  signEs256,
} from './utils/tokens.js';

const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/orders';
const ID_AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const IAP_HEADER = 'x-goog-iap-jwt-assertion';
const IAP_CERTS = '/iap/verify/public_key-jwk';
const ALICE = 'alice@example.com';
const COOLDOWN_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(PLATFORMS)('IAP assertions behind the guard on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp | undefined;
  const apps = useGuardedApps(platform, (running) => (emu = running));
  const start = async (inbound: Record<string, unknown>) => (guarded = await apps.start({ inbound: inbound as never }));
  /** Only IAP assertions, for Alice and the people of corp.example. */
  const startIapOnly = (inbound: Record<string, unknown> = {}) =>
    start({
      iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
      allowedCallers: [ALICE, '*@corp.example'],
      ...inbound,
    });
  /** ID tokens and IAP assertions, in cloud-run-iam mode (which never applies to IAP assertions). */
  const startBoth = () =>
    start({
      audience: ID_AUDIENCE,
      certsUrl: emu.certsUrl,
      mode: 'cloud-run-iam',
      iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
      allowedCallers: [emu.serviceAccountEmail, '*@example.com'],
    });
  const iap = (assertion: string) => ({ [IAP_HEADER]: assertion });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const lastReason = () => /reason=(\w+)/.exec(guarded!.logger.rejections().at(-1) ?? '')?.[1];
  const status = async (headers: Record<string, string>) => (await guarded!.call('/guarded/me', headers)).status;

  it("accepts a valid assertion: 200 with source 'iap', the identity read from its claims", async () => {
    await startIapOnly();
    const assertion = mintIap(emu, IAP_AUDIENCE, { hd: 'example.com' });
    const res = await guarded!.call('/guarded/me', iap(assertion));
    expect(res.status).toBe(200);
    const claims = payloadOf(assertion);
    expect(JSON.parse(res.body)).toEqual({
      source: 'iap',
      email: ALICE,
      subject: claims.sub,
      audience: IAP_AUDIENCE,
      issuer: IAP_ISSUER,
      issuedAt: new Date((claims.iat as number) * 1000).toISOString(),
      expiresAt: new Date((claims.exp as number) * 1000).toISOString(),
      signatureVerified: true,
      claims,
    });
    expect(claims.hd).toBe('example.com');
    expect(JSON.parse((await guarded!.call('/guarded/email', iap(assertion))).body)).toEqual({ email: ALICE });
    // A reused assertion is answered from the cache; IAP's keys are fetched once, Google's never.
    expect(await Promise.all(Array.from({ length: 10 }, () => status(iap(assertion))))).toEqual(Array(10).fill(200));
    expect(emu.requestCount(IAP_CERTS)).toBe(1);
    expect(emu.requestCount('/oauth2/v3/certs')).toBe(0);
  });

  it('answers every forged, broken or unacceptable assertion with 401, the right reason, and no echo', async () => {
    await startIapOnly();
    const cases = forgedIapCases(emu, IAP_AUDIENCE, ID_AUDIENCE);
    const outcomes: string[] = [];
    for (const [name, token] of cases) {
      const res = await guarded!.call('/guarded/me', iap(token));
      outcomes.push(`${name}: ${res.status} ${lastReason()}`);
      expect(res.body, name).not.toContain(token);
      expect(res.wwwAuthenticate, name).toBe('Bearer error="invalid_token"');
    }
    expect(outcomes).toEqual(cases.map(([name, , reason]) => `${name}: 401 ${reason}`));
    const logs = guarded!.logger.lines.map((l) => l.text).join('\n');
    for (const [, token] of cases) expect(logs).not.toContain(token);
    // The operator sees the audience received and the ones expected.
    expect(logs).toContain(`reason=invalid_audience audience=${IAP_AUDIENCE}`);
    expect(logs).toContain(`received_audience=${ID_AUDIENCE}`);
  });

  it('treats the IAP header as hostile: repeated, oversized or empty is refused; the unsigned identity headers are never read', async () => {
    await startIapOnly();
    const assertion = mintIap(emu, IAP_AUDIENCE);
    const refused: [string, () => ReturnType<GuardedApp['call']>, string][] = [
      [
        'repeated',
        () => guarded!.raw('/guarded/me', [IAP_HEADER, assertion, IAP_HEADER, assertion]),
        'duplicate_header',
      ],
      ['oversized', () => guarded!.call('/guarded/me', iap(`${assertion}${'A'.repeat(8192)}`)), 'header_too_large'],
      ['empty', () => guarded!.call('/guarded/me', iap('')), 'malformed'],
      ['missing', () => guarded!.call('/guarded/me'), 'missing_token'],
      [
        'only the unsigned identity headers',
        () =>
          guarded!.call('/guarded/me', {
            'x-goog-authenticated-user-email': `accounts.google.com:${ALICE}`,
            'x-goog-authenticated-user-id': 'accounts.google.com:1234567890',
          }),
        'missing_token',
      ],
      // An IAP-only service does not take ID tokens, whatever they say.
      [
        'an ID token in Authorization',
        () => guarded!.call('/guarded/me', bearer(mint(emu, ID_AUDIENCE))),
        'missing_token',
      ],
    ];
    for (const [name, send, reason] of refused) {
      const res = await send();
      expect(res.status, name).toBe(401);
      expect(lastReason(), name).toBe(reason);
    }
    expect(guarded!.logger.rejections().at(-1)).toContain(`no ${IAP_HEADER} header`);
    // The same assertion once, verified and then from the cache, is fine.
    expect((await guarded!.raw('/guarded/me', [IAP_HEADER, assertion])).status).toBe(200);
    expect((await guarded!.raw('/guarded/me', [IAP_HEADER, assertion, IAP_HEADER, assertion])).status).toBe(401);
  });

  it('applies allow-lists to IAP callers: people and domains; 403 for another email', async () => {
    await startIapOnly();
    const as = (email: string) => iap(mintIap(emu, IAP_AUDIENCE, { email }));
    expect(await status(as(ALICE))).toBe(200);
    expect(await status(as('Alice@Example.com'))).toBe(200);
    expect(await status(as('carol@corp.example'))).toBe(200);
    expect(await status(as('bob@example.com'))).toBe(403);
    expect(lastReason()).toBe('caller_not_allowed');
    expect(await status(as('dave@sub.corp.example'))).toBe(403);
    // A route's own list replaces the module's.
    expect((await guarded!.call('/guarded/special', as(ALICE))).status).toBe(403);
    expect((await guarded!.call('/guarded/special', as(SPECIAL_CALLER))).status).toBe(200);
  });

  it('with ID tokens and IAP both configured, accepts either, checks the assertion first and never falls back', async () => {
    await startBoth();
    const idToken = mint(emu, ID_AUDIENCE);
    const assertion = mintIap(emu, IAP_AUDIENCE, { email: 'bob@example.com' });
    const me = async (headers: Record<string, string>) => {
      const res = await guarded!.call('/guarded/me', headers);
      return res.status === 200 ? (JSON.parse(res.body) as { source: string; email: string }) : res.status;
    };
    expect(await me(bearer(idToken))).toMatchObject({ source: 'id-token', email: emu.serviceAccountEmail });
    expect(await me({ 'x-serverless-authorization': `Bearer ${idToken}` })).toMatchObject({ source: 'id-token' });
    expect(await me(iap(assertion))).toMatchObject({ source: 'iap', email: 'bob@example.com' });
    // A valid assertion decides, whatever Authorization says.
    expect(await me({ ...iap(assertion), authorization: 'Bearer not-a-jwt' })).toMatchObject({ source: 'iap' });

    // A present but invalid assertion is a 401, even next to a valid ID token.
    const expired = mintIap(emu, IAP_AUDIENCE, { iat: 1_700_000_000, exp: 1_700_000_600 });
    for (const [name, bad] of [
      ['expired', expired],
      ['empty', ''],
      ['garbage', 'not-a-jwt'],
      ['an ID token', idToken],
    ]) {
      expect(await me({ ...iap(bad!), ...bearer(idToken) }), name).toBe(401);
      expect(await me({ ...iap(bad!), 'x-serverless-authorization': `Bearer ${idToken}` }), name).toBe(401);
    }
    const repeated = await guarded!.raw('/guarded/me', [
      IAP_HEADER,
      assertion,
      IAP_HEADER,
      assertion,
      'Authorization',
      `Bearer ${idToken}`,
    ]);
    expect(repeated.status).toBe(401);

    // An assertion in Authorization is not an ID token; IAP's assertions are always fully verified.
    expect(await me(bearer(assertion))).toBe(401);
    expect(lastReason()).toBe('unsupported_alg');
    const stripped = (token: string) => `${token.slice(0, token.lastIndexOf('.'))}.SIGNATURE_REMOVED_BY_GOOGLE`;
    expect(await me(bearer(mint(emu, ID_AUDIENCE, {}, { stripSignature: true })))).toMatchObject({
      source: 'id-token',
    });
    expect(await me(iap(stripped(mintIap(emu, IAP_AUDIENCE))))).toBe(401);
    expect(lastReason()).toBe('bad_signature');

    // A domain of people admits IAP callers only: an ID token for bob@example.com is not enough.
    expect(await me(bearer(mint(emu, ID_AUDIENCE, { email: 'bob@example.com' })))).toBe(403);
    expect(await me(iap(mintIap(emu, IAP_AUDIENCE, { email: 'mallory@elsewhere.example' })))).toBe(403);
  });

  it('keeps accepting assertions with cached IAP keys while the IAP JWKS is down', async () => {
    const shortLived = await startEmulator({ certsMaxAgeSeconds: 1 });
    try {
      await start({
        iap: { audience: IAP_AUDIENCE, certsUrl: shortLived.iapCertsUrl },
        allowedCallers: [ALICE],
        keyRefetchCooldownMs: COOLDOWN_MS,
      });
      expect(await status(iap(mintIap(shortLived, IAP_AUDIENCE)))).toBe(200);
      shortLived.fail(IAP_CERTS, { mode: 'error', times: Infinity });
      await sleep(1100); // the key set's max-age has passed: the next assertion refetches in the background, and that fails
      expect(await status(iap(mintIap(shortLived, IAP_AUDIENCE)))).toBe(200);
      await expect.poll(() => shortLived.requestCount(IAP_CERTS)).toBe(2);
      await expect
        .poll(() => guarded!.logger.lines.some((l) => /still using the 1 cached key/.test(l.text)))
        .toBe(true);
      // An unknown kid is still a 401 (not a 503) during the outage.
      await sleep(COOLDOWN_MS + 50);
      const forged = signEs256(attackerIapKey.privateKey, { alg: 'ES256', kid: randomKid() }, iapClaims(IAP_AUDIENCE));
      expect(await status(iap(forged))).toBe(401);
      expect(lastReason()).toBe('unknown_kid');
    } finally {
      await shortLived.close();
    }
  });

  it('answers 503 when no IAP keys can be fetched and none are cached', async () => {
    await startIapOnly({ keyRefetchCooldownMs: COOLDOWN_MS });
    emu.fail(IAP_CERTS, { mode: 'error', times: 1 });
    const res = await guarded!.call('/guarded/me', iap(mintIap(emu, IAP_AUDIENCE)));
    expect(res.status).toBe(503);
    expect(lastReason()).toBe('keys_unavailable');
    await sleep(COOLDOWN_MS + 50);
    expect(await status(iap(mintIap(emu, IAP_AUDIENCE)))).toBe(200);
  });
});
