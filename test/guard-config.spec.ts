import { describe, expect, it } from 'vitest';
import { Controller, Get, UseGuards } from '@nestjs/common';
import { AllowedCallers, CloudRunAuthConfigError, CloudRunAuthGuard, IdTokenVerifier } from '../lib/index.js';
import { compileAllowList } from '../lib/inbound/allowed-callers.matcher.js';
import { resolveInboundOptions } from '../lib/inbound/inbound.options.js';
import { compileGuardedModule } from './utils/guarded-app.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';

async function bootError(
  options: Parameters<typeof compileGuardedModule>[0],
  controllers?: Parameters<typeof compileGuardedModule>[1],
) {
  try {
    const moduleRef = await compileGuardedModule(options, controllers);
    await moduleRef.init();
    await moduleRef.close();
  } catch (error) {
    return error as CloudRunAuthConfigError;
  }
  throw new Error('the module booted');
}

describe('secure by default', () => {
  it.each([
    ['forRoot', { inbound: { audience: AUDIENCE } }],
    ['forRoot with an empty allow-list', { inbound: { audience: AUDIENCE, allowedCallers: [] } }],
    ['forRootAsync', { async: { useFactory: () => ({ inbound: { audience: AUDIENCE } }) } }],
  ])('refuses to boot without an allow-list or allowAnyCaller (%s)', async (_name, options) => {
    const error = await bootError(options as never);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.field).toBe('inbound.allowedCallers');
    expect(error.message).toMatch(/allowAnyCaller: true/);
    expect(error.message).toMatch(/any Google account can mint an ID token/);
  });

  it('boots with an allow-list, or with allowAnyCaller: true', async () => {
    for (const inbound of [
      { audience: AUDIENCE, allowedCallers: ['a@p.iam.gserviceaccount.com'] },
      { audience: AUDIENCE, allowAnyCaller: true },
    ]) {
      const moduleRef = await compileGuardedModule({ inbound });
      expect(moduleRef.get(IdTokenVerifier)).toBeInstanceOf(IdTokenVerifier);
      await moduleRef.close();
    }
  });

  it('refuses to boot when CloudRunAuthGuard is used without inbound options', async () => {
    const error = await bootError({ services: [] });
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.message).toMatch(/CloudRunAuthGuard is used but CloudRunAuthModule has no inbound options/);
  });

  it('boots without inbound options when the guard is not used', async () => {
    @Controller('plain')
    class PlainController {
      @Get()
      get() {
        return 'ok';
      }
    }
    const moduleRef = await compileGuardedModule({ services: [] }, [PlainController]);
    await moduleRef.close();
  });
});

describe('inbound option validation', () => {
  const base = { audience: AUDIENCE, allowedCallers: ['a@p.iam.gserviceaccount.com'] };
  it.each([
    [{ ...base, audiance: AUDIENCE }, 'inbound.audiance', /unknown option/],
    [{ allowedCallers: base.allowedCallers }, 'inbound.audience', /is required/],
    [{ ...base, audience: [] }, 'inbound.audience', /is required/],
    [{ ...base, audience: [' https://x.run.app'] }, 'inbound.audience', /surrounding spaces/],
    [{ ...base, mode: 'trust' }, 'inbound.mode', /'verify' or 'cloud-run-iam'/],
    [{ ...base, clockToleranceSeconds: -1 }, 'inbound.clockToleranceSeconds', /0 to 300/],
    [{ ...base, clockToleranceSeconds: 3600 }, 'inbound.clockToleranceSeconds', /0 to 300/],
    [{ ...base, certsUrl: 'http://certs.example.com/keys' }, 'inbound.certsUrl', /https/],
    [{ ...base, certsUrl: 'not a url' }, 'inbound.certsUrl', /absolute URL/],
    [{ ...base, maxHeaderBytes: 10 }, 'inbound.maxHeaderBytes', /1024 to 65536/],
    [{ ...base, keyRefetchCooldownMs: 0 }, 'inbound.keyRefetchCooldownMs', /integer >= 1/],
    [{ ...base, keyFetchTimeoutMs: 1.5 }, 'inbound.keyFetchTimeoutMs', /integer >= 1/],
    [{ ...base, verifiedTokenCacheSize: -1 }, 'inbound.verifiedTokenCacheSize', /integer >= 0/],
    [{ ...base, allowAnyCaller: true }, 'inbound.allowAnyCaller', /contradict/],
    [{ ...base, allowedCallers: ['*@gmail.com'] }, 'inbound.allowedCallers', /neither an email address nor/],
  ])('rejects %j at %s', (inbound, field, message) => {
    let error: CloudRunAuthConfigError | undefined;
    try {
      resolveInboundOptions(inbound as never);
    } catch (e) {
      error = e as CloudRunAuthConfigError;
    }
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error!.field).toBe(field);
    expect(error!.message).toMatch(message);
  });

  it('applies documented defaults', () => {
    expect(resolveInboundOptions(base)).toMatchObject({
      allowAnyCaller: false,
      maxHeaderBytes: 8192,
      verifier: {
        audiences: [AUDIENCE],
        mode: 'verify',
        clockToleranceSeconds: 30,
        certsUrl: 'https://www.googleapis.com/oauth2/v3/certs',
        keyRefetchCooldownMs: 30_000,
        keyFetchTimeoutMs: 5000,
        verifiedTokenCacheSize: 1000,
        // The guard, not the verifier, refuses callers without a verified email (403, not 401).
        requireVerifiedEmail: false,
      },
    });
  });

  it('resolves the verifier options once: the verifier takes them as they are', () => {
    const { verifier } = resolveInboundOptions(base)!;
    expect(Object.isFrozen(verifier)).toBe(true);
    expect(new IdTokenVerifier(verifier).verification.options).toBe(verifier);
  });

  it.each([
    [{ inbound: { ...base, mount: 'yes' } }, 'inbound.mount', /boolean or a class extending CloudRunAuthGuard/],
    [
      { inbound: { ...base, mount: class NotAGuard {} } },
      'inbound.mount',
      /boolean or a class extending CloudRunAuthGuard/,
    ],
  ])('rejects mount %j at boot', async (options, field, message) => {
    const error = await bootError(options as never);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('reports invalid inbound options at boot with the field', async () => {
    const error = await bootError({ inbound: { ...base, allowedCallers: ['*'] } });
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.field).toBe('inbound.allowedCallers');
  });
});

describe('caller patterns', () => {
  it.each([
    'a@p.iam.gserviceaccount.com',
    'Scheduler@My-Project.iam.gserviceaccount.com',
    '123456789-compute@developer.gserviceaccount.com',
    'my-project@appspot.gserviceaccount.com',
    'user@example.com',
    '*@my-project.iam.gserviceaccount.com',
    '*@My-Project.IAM.gserviceaccount.com',
  ])('accepts %s', (pattern) => {
    expect(() => compileAllowList([pattern], 'x')).not.toThrow();
  });

  it.each([
    '*',
    '*@*',
    '*@gmail.com',
    '*@developer.gserviceaccount.com',
    '*@appspot.gserviceaccount.com',
    '*@iam.gserviceaccount.com',
    '*@*.iam.gserviceaccount.com',
    '*@gcp-sa-pubsub.iam.gserviceaccount.com',
    '*@my-project.iam.gserviceaccount.com.evil.com',
    'a*@my-project.iam.gserviceaccount.com',
    '*a@my-project.iam.gserviceaccount.com',
    'no-at-sign',
    'a@b',
    ' a@p.iam.gserviceaccount.com',
    '',
  ])('rejects %j', (pattern) => {
    expect(() => compileAllowList([pattern], 'x')).toThrow(CloudRunAuthConfigError);
  });

  it('rejects bad patterns when @AllowedCallers is applied, and an empty list', () => {
    expect(() => AllowedCallers('*@gmail.com')).toThrow(/@AllowedCallers\(\).*neither an email address nor/);
    expect(() => AllowedCallers()).toThrow(/non-empty/);
    expect(() => {
      @UseGuards(CloudRunAuthGuard)
      @AllowedCallers('*')
      class Broken {}
      return Broken;
    }).toThrow(CloudRunAuthConfigError);
  });

  it('matches exactly, case-insensitively, and one project per wildcard', () => {
    const list = compileAllowList(['Ops@P.iam.gserviceaccount.com', '*@team-project.iam.gserviceaccount.com'], 'x');
    expect(list.matches('ops@p.iam.gserviceaccount.com')).toBe(true);
    expect(list.matches('OPS@P.IAM.GSERVICEACCOUNT.COM')).toBe(true);
    expect(list.matches('ops2@p.iam.gserviceaccount.com')).toBe(false);
    expect(list.matches('x@team-project.iam.gserviceaccount.com')).toBe(true);
    expect(list.matches('x@sub.team-project.iam.gserviceaccount.com')).toBe(false);
    expect(list.matches('@team-project.iam.gserviceaccount.com')).toBe(false);
    expect(list.matches('x@team-project.iam.gserviceaccount.com@evil.com')).toBe(false);
  });

  it.each(['sub:1', 'sub:112233445566778899001', `sub:${'9'.repeat(64)}`])('accepts %s', (pattern) => {
    expect(compileAllowList([pattern], 'x').patterns).toEqual([pattern]);
  });

  it.each([
    'sub:',
    'sub:abc',
    'sub:12a',
    'sub: 123',
    'sub:-1',
    'sub:1.5',
    `sub:${'9'.repeat(65)}`,
    'SUB:123',
    'sub:\u0661\u0662', // Arabic-Indic digits: digits to Unicode, not to Google
    'sub:accounts.google.com:123', // IAP's subject form: never matched, so never accepted
    'sub:123@p.iam.gserviceaccount.com',
  ])('rejects the unique-ID entry %j, naming the field', (pattern) => {
    for (const at of ['inbound.allowedCallers', '@AllowedCallers()']) {
      const error = (() => {
        try {
          compileAllowList([pattern], at);
        } catch (e) {
          return e as CloudRunAuthConfigError;
        }
        throw new Error('accepted');
      })();
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect(error.field).toBe(at);
      expect(error.message).toMatch(/"sub:" followed by the digits|non-ASCII character/);
    }
  });

  it.each([
    ['a Kelvin sign for k', 'admin@\u212aelvin-project.iam.gserviceaccount.com', /U\+212A at index 6/],
    ['a Kelvin sign in a project wildcard', '*@\u212aelvin-project.iam.gserviceaccount.com', /U\+212A at index 2/],
    ['a dotted capital I', 'ops@\u0130nfra.example', /U\+0130/],
    ['a Cyrillic a', '\u0430dmin@p.iam.gserviceaccount.com', /U\+0430 at index 0/],
    ['a non-breaking space', 'admin@p.iam.gserviceaccount.com\u00a0', /U\+00A0/],
    ['an emoji', 'admin\u{1f600}@p.iam.gserviceaccount.com', /U\+1F600 at index 5/],
  ])('rejects an entry with %s, escaped in the message', (_name, pattern, position) => {
    const error = (() => {
      try {
        compileAllowList([pattern], 'inbound.allowedCallers');
      } catch (e) {
        return e as CloudRunAuthConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.field).toBe('inbound.allowedCallers');
    expect(error.message).toMatch(/non-ASCII character/);
    expect(error.message).toMatch(position);
    expect(error.message).toMatch(/^[\x20-\x7e]*$/);
  });

  it('compares emails ASCII case-insensitively: a look-alike that toLowerCase() would fold never matches', () => {
    const list = compileAllowList(
      ['Admin@Kelvin-Project.iam.gserviceaccount.com', '*@kilo-project.iam.gserviceaccount.com'],
      'x',
    );
    expect(list.matches('ADMIN@kelvin-project.IAM.gserviceaccount.com')).toBe(true);
    expect('\u212a'.toLowerCase()).toBe('k'); // what the old comparison did
    for (let round = 0; round < 2; round += 1) {
      expect(list.matches('admin@\u212aelvin-project.iam.gserviceaccount.com')).toBe(false);
      expect(list.matches('job@\u212ailo-project.iam.gserviceaccount.com')).toBe(false);
      expect(list.matches('job@kilo-project.iam.gserviceaccount.com')).toBe(true);
    }
  });

  it('lists and matches sub: entries by the identity: ID-token callers only, with or without email', () => {
    const list = compileAllowList(
      ['sub:112233', 'ops@p.iam.gserviceaccount.com', '*@team-project.iam.gserviceaccount.com'],
      'x',
    );
    expect(list.patterns).toEqual([
      'ops@p.iam.gserviceaccount.com',
      '*@team-project.iam.gserviceaccount.com',
      'sub:112233',
    ]);
    const idToken = (subject: string, email?: string) => ({ source: 'id-token' as const, subject, email });
    expect(list.allows(idToken('112233'))).toBe(true);
    expect(list.allows(idToken('112233', 'someone@elsewhere.example'))).toBe(true);
    expect(list.allows(idToken('1122334'))).toBe(false);
    expect(list.allows(idToken('11223'))).toBe(false);
    expect(list.allows(idToken('999', 'OPS@p.iam.gserviceaccount.com'))).toBe(true);
    expect(list.allows(idToken('999', 'ci@team-project.iam.gserviceaccount.com'))).toBe(true);
    expect(list.allows(idToken('999', 'intruder@evil.example'))).toBe(false);
    expect(list.allows(idToken('999'))).toBe(false);
    // IAP's subjects are never bare digits; even one that were is not matched by a sub: entry.
    expect(list.allows({ source: 'iap', subject: 'accounts.google.com:112233', email: 'a@corp.example' })).toBe(false);
    expect(list.allows({ source: 'iap', subject: '112233', email: 'a@corp.example' })).toBe(false);
    expect(list.allows({ source: 'iap', subject: '1', email: 'ops@p.iam.gserviceaccount.com' })).toBe(true);
    // The email-only method is unchanged: sub: entries play no part in it.
    expect(list.matches('112233')).toBe(false);
    expect(list.matches('sub:112233')).toBe(false);
  });
});
