import {
  Controller,
  Get,
  HttpException,
  Injectable,
  UseGuards,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllowedCallers,
  Caller,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  IapAssertionVerifier,
  IdTokenVerifier,
  TokenVerificationError,
  type CallerAllowList,
  type CallerIdentity,
  type InboundRejection,
} from '../lib/index.js';
import { compileAllowList } from '../lib/inbound/allowed-callers.matcher.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { mint, mintIap } from './utils/tokens.js';

/**
 * A subclass of the guard can only narrow: each overridable hook, overridden by a subclass on
 * routes of its own, in one application with the stock guard, whose decisions stay what they
 * were. The caches the guards share (verified tokens, allow-list passes remembered on an
 * identity) must never carry a subclass's looser decision over to the stock guard.
 */

const AUDIENCE = 'https://ledger-abc123-ew.a.run.app';
const IAP_AUDIENCE = '/projects/123456789012/locations/europe-west1/services/ledger';
const ADMIN = 'admin@ledger-project.iam.gserviceaccount.com';
const BREAK_GLASS = 'break-glass@ledger-project.iam.gserviceaccount.com';
const IAP_USER = 'alice@corp.example';

/** Also lets the break-glass account through: looser than the stock check. */
@Injectable()
class BreakGlassGuard extends CloudRunAuthGuard {
  protected override checkCaller(identity: CallerIdentity, allowList: CallerAllowList): InboundRejection | undefined {
    return identity.email === BREAK_GLASS ? undefined : super.checkCaller(identity, allowList);
  }
}

/** Its own, looser list on every route. */
const LOOSE_LIST = compileAllowList([ADMIN, BREAK_GLASS], 'LooseListGuard');
@Injectable()
class LooseListGuard extends CloudRunAuthGuard {
  protected override getAllowList(): CallerAllowList {
    return LOOSE_LIST;
  }
}

/** Skips everything. */
@Injectable()
class SkipAllGuard extends CloudRunAuthGuard {
  protected override shouldSkip(): boolean {
    return true;
  }
}

/** Reads the request through a wrapper object of its own (say, to normalise header names). */
@Injectable()
class WrappedRequestGuard extends CloudRunAuthGuard {
  protected override getRequest(context: ExecutionContext) {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string>; rawHeaders: string[] }>();
    return { headers: { ...request.headers }, rawHeaders: [...request.rawHeaders] };
  }
}

/** Trusts headers as they are (no raw headers): fully verified tokens only. */
@Injectable()
class NoRawHeadersGuard extends CloudRunAuthGuard {
  protected override getRawHeaders(): undefined {
    return undefined;
  }
}

/** Answers every refusal with 404, in its own exception, and logs nothing. */
@Injectable()
class HidingGuard extends CloudRunAuthGuard {
  protected override toRejection(error: unknown): InboundRejection {
    return { ...super.toRejection(error), status: 403 };
  }
  protected override createException(): HttpException {
    return new HttpException('Not Found', 404);
  }
  protected override logRejection(): void {}
}

/** Refuses through its own reject(): a 451 for every refusal. */
@Injectable()
class LegalGuard extends CloudRunAuthGuard {
  protected override reject(_context: ExecutionContext, rejection: InboundRejection): never {
    throw new HttpException(`refused: ${rejection.reason}`, 451);
  }
}

/** An ID-token verifier that also requires an `hd` claim: asked on every request. */
class HostedDomainVerifier extends IdTokenVerifier {
  calls = 0;
  override async verify(token: string): Promise<CallerIdentity> {
    this.calls += 1;
    const identity = await super.verify(token);
    if (identity.claims.hd !== 'ledger.example') throw new TokenVerificationError('invalid_subject', 'no hd');
    return identity;
  }
}

/** An IAP verifier that also requires the `hd` claim to be corp.example. */
class CorpIapVerifier extends IapAssertionVerifier {
  calls = 0;
  override async verify(token: string): Promise<CallerIdentity> {
    this.calls += 1;
    const identity = await super.verify(token);
    if (identity.claims.hd !== 'corp.example') throw new TokenVerificationError('invalid_subject', 'not corp.example');
    return identity;
  }
}

@Controller()
@AllowedCallers(ADMIN)
class LedgerController {
  @Get('stock')
  @UseGuards(CloudRunAuthGuard)
  stock(@Caller('email') email: string) {
    return { email };
  }

  @Get('break-glass')
  @UseGuards(BreakGlassGuard)
  breakGlass(@Caller('email') email: string) {
    return { email };
  }

  @Get('loose-list')
  @UseGuards(LooseListGuard)
  looseList(@Caller('email') email: string) {
    return { email };
  }

  @Get('skip-all')
  @UseGuards(SkipAllGuard)
  skipAll() {
    return { skipped: true };
  }

  @Get('wrapped')
  @UseGuards(WrappedRequestGuard)
  wrapped(@Caller() caller: CallerIdentity) {
    return { email: caller.email };
  }

  @Get('no-raw-headers')
  @UseGuards(NoRawHeadersGuard)
  noRawHeaders(@Caller('email') email: string) {
    return { email };
  }

  @Get('hiding')
  @UseGuards(HidingGuard)
  hiding(@Caller('email') email: string) {
    return { email };
  }

  @Get('legal')
  @UseGuards(LegalGuard)
  legal(@Caller('email') email: string) {
    return { email };
  }
}

interface Reply {
  status: number;
  body: string;
  wwwAuthenticate: string | null;
}

describe('CloudRunAuthGuard subclasses can only narrow', () => {
  let emu: Emulator;
  let app: INestApplication;
  let url: string;
  const logger = new CapturingLogger();

  const call = async (path: string, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await fetch(url + path, { headers });
    return { status: res.status, body: await res.text(), wwwAuthenticate: res.headers.get('www-authenticate') };
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** One token per caller for the whole file: identities (and what is remembered on them) are shared. */
  const tokens = new Map<string, string>();
  const tokenOf = (email: string, stripSignature = false) => {
    const key = `${email}/${stripSignature}`;
    if (!tokens.has(key)) tokens.set(key, mint(emu, AUDIENCE, { email, email_verified: true }, { stripSignature }));
    return tokens.get(key)!;
  };

  /** What the stock guard decides for each caller: checked before and after every subclass has run. */
  const stockDecisions = async () => ({
    admin: (await call('/stock', bearer(tokenOf(ADMIN)))).status,
    breakGlass: (await call('/stock', bearer(tokenOf(BREAK_GLASS)))).status,
    none: (await call('/stock')).status,
    junk: (await call('/stock', bearer('junk'))).status,
    strippedAdmin: (await call('/stock', bearer(tokenOf(ADMIN, true)))).status,
  });
  const STOCK = { admin: 200, breakGlass: 403, none: 401, junk: 401, strippedAdmin: 200 };

  beforeAll(async () => {
    emu = await startEmulator();
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: {
            audience: AUDIENCE,
            certsUrl: emu.certsUrl,
            mode: 'cloud-run-iam',
            iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
            allowedCallers: [ADMIN],
          },
        }),
      ],
      controllers: [LedgerController],
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await emu?.close();
  });

  it('the stock guard decides as configured', async () => {
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('checkCaller(): a looser subclass lets break-glass through its own routes, never the stock guard’s', async () => {
    expect((await call('/break-glass', bearer(tokenOf(BREAK_GLASS)))).status).toBe(200);
    expect((await call('/break-glass', bearer(tokenOf(BREAK_GLASS)))).status).toBe(200);
    // The same token, the same identity, the same allow-list object (the controller's): still refused.
    expect((await call('/stock', bearer(tokenOf(BREAK_GLASS)))).status).toBe(403);
    expect((await call('/break-glass', bearer(tokenOf(ADMIN)))).status).toBe(200);
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('getAllowList(): a subclass’s own list applies to its routes only', async () => {
    expect((await call('/loose-list', bearer(tokenOf(BREAK_GLASS)))).status).toBe(200);
    expect((await call('/stock', bearer(tokenOf(BREAK_GLASS)))).status).toBe(403);
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('shouldSkip(): a subclass that skips everything skips its own routes only', async () => {
    expect((await call('/skip-all')).status).toBe(200);
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('getRequest(): a subclass reading another request object still fills @Caller()', async () => {
    const res = await call('/wrapped', bearer(tokenOf(ADMIN)));
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ email: ADMIN });
    expect((await call('/wrapped', bearer(tokenOf(BREAK_GLASS)))).status).toBe(403);
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('getRawHeaders(): without raw headers, a stripped token is refused (Cloud Run may not have checked it)', async () => {
    const stripped = await call('/no-raw-headers', bearer(tokenOf(ADMIN, true)));
    expect(stripped.status).toBe(401);
    expect(logger.rejections().at(-1)).toContain('reason=stripped_token_unchecked');
    // Also once the stock guard has verified (and cached) that very token.
    expect((await call('/stock', bearer(tokenOf(ADMIN, true)))).status).toBe(200);
    expect((await call('/no-raw-headers', bearer(tokenOf(ADMIN, true)))).status).toBe(401);
    // A signed token is verified in full: where it came from does not matter.
    expect((await call('/no-raw-headers', bearer(tokenOf(ADMIN)))).status).toBe(200);
    expect(await stockDecisions()).toEqual(STOCK);
  });

  it('toRejection(), createException(), logRejection(): a subclass’s refusals are its own', async () => {
    const before = logger.rejections().length;
    expect((await call('/hiding')).status).toBe(404);
    expect((await call('/hiding', bearer(tokenOf(BREAK_GLASS)))).status).toBe(404);
    expect(logger.rejections().length).toBe(before);
    expect((await call('/hiding', bearer(tokenOf(ADMIN)))).status).toBe(200);
    expect(await stockDecisions()).toEqual(STOCK);
    const stock = await call('/stock');
    expect(stock.body).toBe(JSON.stringify({ message: 'Unauthorized', statusCode: 401 }));
  });

  it('reject(): a subclass’s own refusal', async () => {
    expect((await call('/legal')).status).toBe(451);
    expect((await call('/legal', bearer(tokenOf(ADMIN)))).status).toBe(200);
    expect(await stockDecisions()).toEqual(STOCK);
  });
});

@Controller()
class PlainController {
  @Get('me')
  @UseGuards(CloudRunAuthGuard)
  me(@Caller('email') email: string) {
    return { email };
  }
}

describe('verifier subclasses: their own checks hold on every request, cached or not', () => {
  let emu: Emulator;
  let app: INestApplication;
  let url: string;
  let idVerifier: HostedDomainVerifier;
  let iapVerifier: CorpIapVerifier;

  const status = async (headers: Record<string, string>) => (await fetch(`${url}/me`, { headers })).status;

  beforeAll(async () => {
    emu = await startEmulator();
    idVerifier = new HostedDomainVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
    iapVerifier = new CorpIapVerifier({ audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl });
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: {
            audience: AUDIENCE,
            certsUrl: emu.certsUrl,
            iap: { audience: IAP_AUDIENCE, certsUrl: emu.iapCertsUrl },
            allowedCallers: [ADMIN, IAP_USER],
          },
        }),
      ],
      controllers: [PlainController],
    })
      .overrideProvider(IdTokenVerifier)
      .useValue(idVerifier)
      .overrideProvider(IapAssertionVerifier)
      .useValue(iapVerifier)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await emu?.close();
  });

  it('IapAssertionVerifier subclass: an assertion its check refuses is refused the first time and every time after', async () => {
    const corp = mintIap(emu, IAP_AUDIENCE, { email: IAP_USER, hd: 'corp.example' });
    const elsewhere = mintIap(emu, IAP_AUDIENCE, { email: IAP_USER, hd: 'elsewhere.example' });
    for (let i = 0; i < 3; i += 1) {
      expect(await status({ 'x-goog-iap-jwt-assertion': elsewhere }), `round ${i}`).toBe(401);
      expect(await status({ 'x-goog-iap-jwt-assertion': corp }), `round ${i}`).toBe(200);
    }
    expect(iapVerifier.calls).toBe(6);
  });

  it('IdTokenVerifier subclass: likewise', async () => {
    const inDomain = mint(emu, AUDIENCE, { email: ADMIN, hd: 'ledger.example' });
    const outside = mint(emu, AUDIENCE, { email: ADMIN });
    for (let i = 0; i < 3; i += 1) {
      expect(await status({ authorization: `Bearer ${outside}` }), `round ${i}`).toBe(401);
      expect(await status({ authorization: `Bearer ${inDomain}` }), `round ${i}`).toBe(200);
    }
    expect(idVerifier.calls).toBe(6);
  });
});
