import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { PLATFORMS, SPECIAL_CALLER, startGuardedApp, type GuardedApp } from './utils/guarded-app.js';
import { forgedCases, mint, payloadOf } from './utils/tokens.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';

describe.each(PLATFORMS)('CloudRunAuthGuard on %s', (platform) => {
  let emu: Emulator;
  let guarded: GuardedApp;
  let publicKeyPem: string;
  let previousKid: string;
  const secrets: string[] = [];
  const bearer = (token: string) => {
    secrets.push(token);
    return { authorization: `Bearer ${token}` };
  };

  beforeAll(async () => {
    emu = await startEmulator();
    previousKid = emu.currentKid;
    emu.rotateKeys(); // two published keys, as Google has
    const pems = (await (await fetch(emu.pemCertsUrl)).json()) as Record<string, string>;
    publicKeyPem = pems[emu.currentKid]!;
    guarded = await startGuardedApp(platform, {
      inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl },
    });
  });
  afterAll(async () => {
    await guarded?.close();
    await emu?.close();
  });

  it('accepts a valid token and exposes the caller through @Caller()', async () => {
    const token = mint(emu, AUDIENCE);
    const res = await guarded.call('/guarded/me', bearer(token));
    expect(res.status).toBe(200);
    const claims = payloadOf(token);
    expect(JSON.parse(res.body)).toEqual({
      source: 'id-token',
      email: emu.serviceAccountEmail,
      subject: claims.sub,
      audience: AUDIENCE,
      issuer: 'https://accounts.google.com',
      issuedAt: new Date((claims.iat as number) * 1000).toISOString(),
      expiresAt: new Date((claims.exp as number) * 1000).toISOString(),
      signatureVerified: true,
      claims,
    });
    const email = await guarded.call('/guarded/email', bearer(token));
    expect(JSON.parse(email.body)).toEqual({ email: emu.serviceAccountEmail });
  });

  it('prefers X-Serverless-Authorization over Authorization', async () => {
    const token = mint(emu, AUDIENCE);
    const res = await guarded.call('/guarded/email', {
      'x-serverless-authorization': `Bearer ${token}`,
      authorization: 'Bearer not-a-jwt',
    });
    secrets.push(token);
    expect(res.status).toBe(200);
  });

  it.each([
    ['lowercase scheme', (t: string) => `bearer ${t}`],
    ['uppercase scheme', (t: string) => `BEARER ${t}`],
    ['several spaces after the scheme', (t: string) => `Bearer   ${t}`],
  ])('accepts the %s (RFC 7235: schemes are case-insensitive)', async (_name, format) => {
    const token = mint(emu, AUDIENCE);
    secrets.push(token);
    expect((await guarded.call('/guarded/email', { authorization: format(token) })).status).toBe(200);
  });

  it('answers every forged, broken or unacceptable token with 401/403, the right reason, and no echo', async () => {
    const cases = forgedCases(emu, AUDIENCE, publicKeyPem, previousKid);
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const outcomes: string[] = [];
    for (const c of cases) {
      if (c.secret) secrets.push(c.secret);
      const before = guarded.logger.rejections().length;
      const res = await guarded.call('/guarded/me', c.headers);
      const logged = guarded.logger.rejections().slice(before);
      outcomes.push(`${c.name}: ${res.status} ${logged.map((l) => /reason=(\w+)/.exec(l)?.[1]).join(',')}`);
      if (c.secret) {
        expect(res.body, c.name).not.toContain(c.secret);
        expect(res.body, c.name).not.toContain(c.secret.split('.')[1] ?? c.secret);
      }
      if (c.status === 401) {
        expect(res.wwwAuthenticate, c.name).toBe(
          c.reason === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"',
        );
      } else {
        // A valid token: never invalid_token, on which clients refresh and retry.
        expect(res.wwwAuthenticate, c.name).toBe('Bearer error="insufficient_scope"');
      }
    }
    expect(outcomes).toEqual(cases.map((c) => `${c.name}: ${c.status} ${c.reason}`));
  });

  it('refuses repeated token headers', async () => {
    const token = mint(emu, AUDIENCE);
    secrets.push(token);
    for (const name of ['Authorization', 'X-Serverless-Authorization']) {
      const res = await guarded.raw('/guarded/me', [name, `Bearer ${token}`, name, `Bearer ${token}`]);
      expect(res.status, name).toBe(401);
      expect(guarded.logger.rejections().at(-1)).toContain('reason=duplicate_header');
    }
    // The same token once is fine, so the refusals above are about the repetition.
    expect((await guarded.raw('/guarded/me', ['Authorization', `Bearer ${token}`])).status).toBe(200);
  });

  it('runs every header check on a token it has verified before (answered from the verified-token cache)', async () => {
    const token = mint(emu, AUDIENCE);
    secrets.push(token);
    expect((await guarded.call('/guarded/me', bearer(token))).status).toBe(200);
    const refused: [string, () => ReturnType<GuardedApp['call']>, string][] = [
      [
        'repeated header',
        () => guarded.raw('/guarded/me', ['Authorization', `Bearer ${token}`, 'Authorization', `Bearer ${token}`]),
        'duplicate_header',
      ],
      [
        'oversized header',
        () => guarded.call('/guarded/me', { authorization: `Bearer ${' '.repeat(8192)}${token}` }),
        'header_too_large',
      ],
      ['another scheme', () => guarded.call('/guarded/me', { authorization: `Basic ${token}` }), 'malformed_header'],
      [
        'trailing junk',
        () => guarded.call('/guarded/me', { authorization: `Bearer ${token} junk` }),
        'malformed_header',
      ],
      [
        'bad X-Serverless-Authorization',
        () =>
          guarded.call('/guarded/me', {
            'x-serverless-authorization': `Basic ${token}`,
            authorization: `Bearer ${token}`,
          }),
        'malformed_header',
      ],
    ];
    for (const [name, send, reason] of refused) {
      const res = await send();
      expect(res.status, name).toBe(401);
      expect(guarded.logger.rejections().at(-1), name).toContain(`reason=${reason}`);
    }
    expect((await guarded.call('/guarded/me', { authorization: `bearer  ${token}` })).status).toBe(200);
  });

  it('never reads a token from the query string', async () => {
    const token = mint(emu, AUDIENCE);
    secrets.push(token);
    const res = await guarded.call(`/guarded/me?access_token=${token}&token=${token}`);
    expect(res.status).toBe(401);
    expect(res.body).not.toContain(token);
    expect(guarded.logger.rejections().at(-1)).toContain('reason=missing_token');
  });

  it('applies @AllowedCallers on a route instead of the module list', async () => {
    const special = mint(emu, AUDIENCE, { email: SPECIAL_CALLER });
    expect((await guarded.call('/guarded/special', bearer(special))).status).toBe(200);
    expect((await guarded.call('/guarded/me', bearer(special))).status).toBe(403);
    expect((await guarded.call('/guarded/special', bearer(mint(emu, AUDIENCE)))).status).toBe(403);
  });

  it('lets a route @AllowedCallers win over the controller one, with project wildcards and any case', async () => {
    const status = async (path: string, email: string) =>
      (await guarded.call(path, bearer(mint(emu, AUDIENCE, { email })))).status;
    expect(await status('/team', 'ci@team-project.iam.gserviceaccount.com')).toBe(200);
    expect(await status('/team', 'CI@Team-Project.IAM.gserviceaccount.com')).toBe(200);
    expect(await status('/team', emu.serviceAccountEmail)).toBe(403); // controller list replaces the module's
    expect(await status('/team', 'ci@team-project.iam.gserviceaccount.com.evil.example')).toBe(403);
    expect(await status('/team', 'ci@other-team-project.iam.gserviceaccount.com')).toBe(403);
    expect(await status('/team', 'a@b@team-project.iam.gserviceaccount.com')).toBe(403);
    expect(await status('/team/admin', 'admin@other-project.iam.gserviceaccount.com')).toBe(200);
    expect(await status('/team/admin', 'ci@team-project.iam.gserviceaccount.com')).toBe(403); // the route wins
  });

  it('works in a feature module other than the one importing CloudRunAuthModule', async () => {
    expect((await guarded.call('/feature', bearer(mint(emu, AUDIENCE)))).status).toBe(200);
    expect((await guarded.call('/feature')).status).toBe(401);
  });

  it('leaves unguarded routes alone when mount is false', async () => {
    expect((await guarded.call('/open')).status).toBe(200);
  });

  it('fails loudly, never with an empty identity, when @Caller() is used where the guard did not run', async () => {
    const res = await guarded.call('/open/whoami', bearer(mint(emu, AUDIENCE)));
    expect(res.status).toBe(500);
    expect(
      guarded.logger.lines.some(
        (l) =>
          l.level === 'error' && l.text.includes('@Caller() is used on a route CloudRunAuthGuard did not authenticate'),
      ),
    ).toBe(true);
  });

  it('logged rejections with reason codes, and never a token', () => {
    expect(secrets.length).toBeGreaterThan(50);
    expect(guarded.logger.rejections().length).toBeGreaterThan(50);
    const stripped = guarded.logger.lines.filter((l) => l.text.includes('reason=signature_removed'));
    expect(stripped).toHaveLength(1);
    expect(stripped[0]!.level).toBe('warn');
    expect(stripped[0]!.text).toContain("mode: 'cloud-run-iam'");
    expect(stripped[0]!.text).toContain('behind Cloud Run IAM');
    for (const line of guarded.logger.lines) {
      for (const secret of secrets) {
        expect(line.text).not.toContain(secret);
        const signature = secret.split('.')[2] ?? '';
        if (signature.length > 40) expect(line.text).not.toContain(signature);
      }
    }
  });
});
