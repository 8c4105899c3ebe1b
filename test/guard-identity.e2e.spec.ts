import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllowedCallers,
  Caller,
  CloudRunAuthConfigError,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  IdTokenVerifier,
  type CallerIdentity,
} from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import {
  CapturingLogger,
  compileGuardedModule,
  PLATFORMS,
  useGuardedApps,
  type GuardedApp,
} from './utils/guarded-app.js';
import { mint, mintIap, payloadOf, rejection } from './utils/tokens.js';

/**
 * A valid token whose caller cannot be matched (no email, an unverified one) is a 403 with
 * `insufficient_scope`, never a 401 `invalid_token`, on which clients (Java's
 * HttpCredentialsAdapter) refresh and retry a token that can only fail the same way; allow-lists
 * can name such callers by unique ID (`sub:`); emails are compared as Google compares them, ASCII
 * case-insensitively, so a look-alike (U+212A KELVIN SIGN for "k") is never an allowed caller.
 */

const AUDIENCE = 'https://billing-abc123-ew.a.run.app';
const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/billing';
const KELVIN_ADMIN = 'admin@kelvin-project.iam.gserviceaccount.com';
/** The same address with U+212A KELVIN SIGN for its "k", which `toLowerCase()` folds into "k". */
const KELVIN_LOOKALIKE = 'admin@\u212aelvin-project.iam.gserviceaccount.com';
const UNIQUE_ID = '112233445566778899001';
const INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope"';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const noEmail = { email: undefined, email_verified: undefined };

describe.each(PLATFORMS)('callers with an incomplete identity, unique IDs and look-alike emails on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp;
  const apps = useGuardedApps(platform, (running) => (emu = running));
  const start = async (inbound: Record<string, unknown>) =>
    (guarded = await apps.start({ inbound: { audience: AUDIENCE, certsUrl: emu.certsUrl, ...inbound } as never }));
  const lastRejection = () => guarded.logger.rejections().at(-1) ?? '';

  /** What Java's IdTokenCredentials over ComputeEngineCredentials asks for without FORMAT_FULL: no email. */
  const metadataToken = async (full = false) => {
    const query = `audience=${encodeURIComponent(AUDIENCE)}${full ? '&format=full' : ''}`;
    const res = await fetch(`${emu.url}/computeMetadata/v1/instance/service-accounts/default/identity?${query}`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    expect(res.status).toBe(200);
    return res.text();
  };

  describe('a valid token whose caller cannot be matched', () => {
    it('without email (metadata server, no format=full): 403 insufficient_scope, and a log line saying what to change', async () => {
      await start({ allowedCallers: [emu.serviceAccountEmail] });
      const token = await metadataToken();
      const { sub } = payloadOf(token);
      expect(payloadOf(token)).not.toHaveProperty('email');
      // Twice: verified, then answered from the verified-token cache; the same answer both times.
      for (let i = 0; i < 2; i += 1) {
        const res = await guarded.call('/guarded/me', bearer(token));
        expect(res.status).toBe(403);
        expect(res.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
        expect(res.wwwAuthenticate).not.toContain('invalid_token');
        expect(res.body).not.toContain(token.split('.')[1]!);
      }
      const line = lastRejection();
      expect(line).toContain('Rejected');
      expect(line).toContain('with 403');
      expect(line).toContain('reason=missing_email');
      expect(line).toContain('format=full');
      expect(line).toContain('IdTokenProvider.Option.FORMAT_FULL');
      expect(line).toContain('includeEmail');
      expect(line).toContain(`sub:${String(sub)}`);
      expect(line).not.toContain(token.split('.')[1]!);
      // The same caller asking with format=full is let in.
      const full = await guarded.call('/guarded/email', bearer(await metadataToken(true)));
      expect(full.status).toBe(200);
      expect(JSON.parse(full.body)).toEqual({ email: emu.serviceAccountEmail });
    });

    it.each([
      ['email_verified false', { email_verified: false }],
      ['email_verified "true" as a string', { email_verified: 'true' }],
      ['email_verified missing', { email_verified: undefined }],
    ])('with %s: 403 insufficient_scope, reason email_not_verified', async (_name, overrides) => {
      await start({ allowedCallers: [emu.serviceAccountEmail] });
      const res = await guarded.call('/guarded/me', bearer(mint(emu, AUDIENCE, overrides)));
      expect(res.status).toBe(403);
      expect(res.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
      expect(lastRejection()).toContain('reason=email_not_verified');
    });

    it('also on a route whose @AllowedCallers() applies under allowAnyCaller', async () => {
      await start({ allowAnyCaller: true });
      const res = await guarded.call('/team', bearer(mint(emu, AUDIENCE, noEmail)));
      expect(res.status).toBe(403);
      expect(res.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
      expect(lastRejection()).toContain('reason=missing_email');
    });

    it('is admitted by allowAnyCaller where no allow-list applies, as before', async () => {
      await start({ allowAnyCaller: true });
      const res = await guarded.call('/guarded/me', bearer(await metadataToken()));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body).email).toBeUndefined();
    });

    it("keeps the standalone verifier's requireVerifiedEmail; the module's verifier leaves the decision to the guard", async () => {
      await start({ allowedCallers: [emu.serviceAccountEmail] });
      const token = await metadataToken();
      const standalone = new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
      expect(standalone.verification.options.requireVerifiedEmail).toBe(true);
      expect((await rejection(standalone.verify(token))).reason).toBe('missing_email');
      const unverified = mint(emu, AUDIENCE, { email_verified: false });
      expect((await rejection(standalone.verify(unverified))).reason).toBe('email_not_verified');
      const moduleVerifier = guarded.app.get(IdTokenVerifier);
      expect(moduleVerifier.verification.options.requireVerifiedEmail).toBe(false);
      expect((await moduleVerifier.verify(token)).email).toBeUndefined();
    });
  });

  describe('a caller not allowed', () => {
    it('is a 403 with insufficient_scope too (a 403 never makes a client refresh)', async () => {
      await start({ allowedCallers: [emu.serviceAccountEmail] });
      const intruder = mint(emu, AUDIENCE, { email: 'intruder@evil-project.iam.gserviceaccount.com' });
      const res = await guarded.call('/guarded/me', bearer(intruder));
      expect(res.status).toBe(403);
      expect(res.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
      expect(lastRejection()).toContain('reason=caller_not_allowed');
      // 401s keep their challenges; 503s have none.
      expect((await guarded.call('/guarded/me')).wwwAuthenticate).toBe('Bearer');
      expect((await guarded.call('/guarded/me', bearer('x.y.z'))).wwwAuthenticate).toBe('Bearer error="invalid_token"');
    });
  });

  describe('sub: entries', () => {
    it('let a caller without email in by its unique ID, with @Caller() filled; another ID is refused', async () => {
      const token = await metadataToken();
      const sub = String(payloadOf(token).sub);
      expect(sub).toMatch(/^[0-9]+$/);
      await start({ allowedCallers: [`sub:${sub}`, 'ops@other-project.iam.gserviceaccount.com'] });
      for (let i = 0; i < 2; i += 1) {
        const res = await guarded.call('/guarded/me', bearer(token));
        expect(res.status, res.body).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ source: 'id-token', subject: sub, audience: AUDIENCE });
        expect(JSON.parse(res.body).email).toBeUndefined();
      }
      // With an email not in the list, the sub still lets it in.
      const withEmail = mint(emu, AUDIENCE, { sub, email: 'renamed@other-project.iam.gserviceaccount.com' });
      expect((await guarded.call('/guarded/me', bearer(withEmail))).status).toBe(200);
      // Another ID, without email: still the incomplete-identity refusal, naming that ID.
      const other = await guarded.call('/guarded/me', bearer(mint(emu, AUDIENCE, { ...noEmail, sub: UNIQUE_ID })));
      expect(other.status).toBe(403);
      expect(other.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
      expect(lastRejection()).toContain('reason=missing_email');
      expect(lastRejection()).toContain(`sub:${UNIQUE_ID}`);
      // Another ID with an email the list does not have.
      const stranger = mint(emu, AUDIENCE, { sub: UNIQUE_ID, email: 'stranger@evil-project.iam.gserviceaccount.com' });
      expect((await guarded.call('/guarded/me', bearer(stranger))).status).toBe(403);
      expect(lastRejection()).toContain('reason=caller_not_allowed');
      // A sub that only starts or ends like the allowed one.
      for (const near of [`${sub}0`, sub.slice(0, -1), `0${sub}`]) {
        const res = await guarded.call('/guarded/me', bearer(mint(emu, AUDIENCE, { ...noEmail, sub: near })));
        expect(res.status, near).toBe(403);
      }
    });

    it('never match IAP callers: their subjects are accounts.google.com:ID, and a bare-digit one is not matched either', async () => {
      await start({
        iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
        allowedCallers: [`sub:${UNIQUE_ID}`, 'alice@example.com'],
      });
      const iap = (claims: Record<string, unknown>) => ({
        'x-goog-iap-jwt-assertion': mintIap(emu, IAP_AUDIENCE, claims),
      });
      const bob = { email: 'bob@example.com' };
      expect((await guarded.call('/guarded/me', iap({ ...bob, sub: `accounts.google.com:${UNIQUE_ID}` }))).status).toBe(
        403,
      );
      expect((await guarded.call('/guarded/me', iap({ ...bob, sub: UNIQUE_ID }))).status).toBe(403);
      expect(lastRejection()).toContain('reason=caller_not_allowed');
      expect((await guarded.call('/guarded/me', iap({ email: 'alice@example.com' }))).status).toBe(200);
    });

    it.each([
      ['sub:abc', /"sub:" followed by the digits/],
      ['sub:', /"sub:" followed by the digits/],
      [`sub:${'1'.repeat(65)}`, /"sub:" followed by the digits/],
      ['sub:\u0661\u0662\u0663', /non-ASCII character \(U\+0661 at index 4\)/],
    ])('refuse a bad entry %j at boot, naming inbound.allowedCallers', async (entry, message) => {
      const error = await compileGuardedModule({
        inbound: { audience: AUDIENCE, certsUrl: emu.certsUrl, allowedCallers: [KELVIN_ADMIN, entry] },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect((error as CloudRunAuthConfigError).field).toBe('inbound.allowedCallers');
      expect((error as CloudRunAuthConfigError).message).toMatch(message);
    });
  });

  describe('emails compared as Google compares them (ASCII case-insensitively)', () => {
    it('refuse a look-alike with a Kelvin sign for "k" (403), match ASCII case variants (200)', async () => {
      await start({ allowedCallers: [KELVIN_ADMIN, '*@kilo-project.iam.gserviceaccount.com'] });
      expect(KELVIN_LOOKALIKE.toLowerCase()).toBe(KELVIN_ADMIN); // what made the old comparison match
      for (const email of [KELVIN_LOOKALIKE, 'job@\u212ailo-project.iam.gserviceaccount.com']) {
        const res = await guarded.call('/guarded/email', bearer(mint(emu, AUDIENCE, { email })));
        expect(res.status, email).toBe(403);
        expect(res.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
        const line = lastRejection();
        expect(line).toContain('reason=caller_not_allowed');
        expect(line).toContain('outside ASCII');
        expect(line).toContain('u212a'); // escaped: an operator sees it is not a "k"
        expect(line).not.toContain('\u212a');
      }
      for (const email of [
        'ADMIN@Kelvin-Project.iam.gserviceaccount.com',
        'Job@KILO-project.iam.gserviceaccount.com',
      ]) {
        const res = await guarded.call('/guarded/email', bearer(mint(emu, AUDIENCE, { email })));
        expect(res.status, email).toBe(200);
        expect(JSON.parse(res.body)).toEqual({ email });
      }
    });

    it('refuse a look-alike IAP caller of an allowed domain', async () => {
      await start({
        iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
        allowedCallers: ['*@kiosk.example'],
      });
      const iap = (email: string) => ({ 'x-goog-iap-jwt-assertion': mintIap(emu, IAP_AUDIENCE, { email }) });
      expect((await guarded.call('/guarded/me', iap('alice@\u212aiosk.example'))).status).toBe(403);
      expect(lastRejection()).toContain('reason=caller_not_allowed');
      expect((await guarded.call('/guarded/me', iap('Alice@Kiosk.Example'))).status).toBe(200);
    });

    it.each([
      ['a Kelvin sign', KELVIN_LOOKALIKE, /U\+212A at index 6/],
      ['a Kelvin sign in a project wildcard', '*@\u212aelvin-project.iam.gserviceaccount.com', /U\+212A at index 2/],
      ['a Cyrillic "a"', '\u0430dmin@kelvin-project.iam.gserviceaccount.com', /U\+0430 at index 0/],
    ])('refuse an entry with %s at boot, naming inbound.allowedCallers', async (_name, entry, position) => {
      const error = await compileGuardedModule({
        inbound: { audience: AUDIENCE, certsUrl: emu.certsUrl, allowedCallers: [entry] },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect((error as CloudRunAuthConfigError).field).toBe('inbound.allowedCallers');
      expect((error as CloudRunAuthConfigError).message).toMatch(/non-ASCII character/);
      expect((error as CloudRunAuthConfigError).message).toMatch(position);
    });
  });
});

@Controller('ledger')
@UseGuards(CloudRunAuthGuard)
class LedgerController {
  @Get('by-id')
  @AllowedCallers(`sub:${UNIQUE_ID}`)
  byId(@Caller() caller: CallerIdentity) {
    return caller;
  }

  @Get('by-id-or-email')
  @AllowedCallers(`sub:${UNIQUE_ID}`, KELVIN_ADMIN)
  byIdOrEmail(@Caller('subject') subject: string) {
    return { subject };
  }
}

describe.each(PLATFORMS)('@AllowedCallers() with sub: entries on %s', (platform) => {
  let emu: Emulator;
  let app: INestApplication;
  let url: string;
  const get = async (path: string, token: string) => {
    const res = await fetch(url + path, { headers: bearer(token) });
    return { status: res.status, body: await res.text(), wwwAuthenticate: res.headers.get('www-authenticate') };
  };

  beforeAll(async () => {
    emu = await startEmulator();
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: { audience: AUDIENCE, certsUrl: emu.certsUrl, allowedCallers: [emu.serviceAccountEmail] },
        }),
      ],
      controllers: [LedgerController],
    }).compile();
    const logger = new CapturingLogger();
    app =
      platform === 'fastify'
        ? moduleRef.createNestApplication(new FastifyAdapter(), { logger })
        : moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    await emu?.close();
  });

  it('let the caller with that unique ID in, with or without email; others get 403 insufficient_scope', async () => {
    const byId = await get('/ledger/by-id', mint(emu, AUDIENCE, { ...noEmail, sub: UNIQUE_ID }));
    expect(byId.status, byId.body).toBe(200);
    expect(JSON.parse(byId.body)).toMatchObject({ subject: UNIQUE_ID });
    expect(JSON.parse(byId.body).email).toBeUndefined();
    expect((await get('/ledger/by-id', mint(emu, AUDIENCE, { sub: UNIQUE_ID }))).status).toBe(200);
    // The module's caller is not on this route's list.
    const moduleCaller = await get('/ledger/by-id', mint(emu, AUDIENCE));
    expect(moduleCaller.status).toBe(403);
    expect(moduleCaller.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
    const wrongId = await get('/ledger/by-id', mint(emu, AUDIENCE, { ...noEmail, sub: `${UNIQUE_ID}1` }));
    expect(wrongId.status).toBe(403);
    expect(wrongId.wwwAuthenticate).toBe(INSUFFICIENT_SCOPE);
  });

  it('mix with email entries', async () => {
    expect((await get('/ledger/by-id-or-email', mint(emu, AUDIENCE, { email: KELVIN_ADMIN }))).status).toBe(200);
    const res = await get('/ledger/by-id-or-email', mint(emu, AUDIENCE, { ...noEmail, sub: UNIQUE_ID }));
    expect(JSON.parse(res.body)).toEqual({ subject: UNIQUE_ID });
    expect((await get('/ledger/by-id-or-email', mint(emu, AUDIENCE, { email: KELVIN_LOOKALIKE }))).status).toBe(403);
  });

  it.each([['sub:abc'], ['sub:'], ['SUB:1'], [KELVIN_LOOKALIKE]])(
    'refuse a bad entry %j when applied, naming @AllowedCallers()',
    (entry) => {
      let error: unknown;
      try {
        AllowedCallers(entry);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect((error as CloudRunAuthConfigError).field).toBe('@AllowedCallers()');
    },
  );
});
