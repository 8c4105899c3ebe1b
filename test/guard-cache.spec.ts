import { ForbiddenException, UnauthorizedException, type ExecutionContext, type Type } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllowedCallers,
  CloudRunAuthGuard,
  getCallerIdentity,
  IdTokenVerifier,
  SkipCloudRunAuth,
  type CallerAllowList,
  type CallerIdentity,
  type InboundRejection,
} from '../lib/index.js';
import { resolveInboundOptions } from '../lib/inbound/inbound.options.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { bareGuard } from './utils/bare-guard.js';
import { mint } from './utils/tokens.js';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const ALICE = 'alice@team-project.iam.gserviceaccount.com';
const BOB = 'bob@team-project.iam.gserviceaccount.com';

/** Records refusals instead of logging them. */
class RecordingGuard extends CloudRunAuthGuard {
  readonly reasons: string[] = [];
  protected override logRejection(_context: ExecutionContext, rejection: InboundRejection): void {
    this.reasons.push(rejection.reason);
  }
}

/** A verifier that adds a check of its own: the guard must ask it every time. */
class AuditingVerifier extends IdTokenVerifier {
  calls = 0;
  override async verify(token: string): Promise<CallerIdentity> {
    this.calls += 1;
    return super.verify(token);
  }
}

class BaseController {
  handle() {}
}
@AllowedCallers(ALICE)
class AliceController extends BaseController {}
@AllowedCallers(BOB)
class BobController extends BaseController {}
@SkipCloudRunAuth()
class OpenController extends BaseController {}

interface FakeRequest {
  headers: Record<string, string>;
  rawHeaders: string[];
}

function httpContext(
  request: FakeRequest,
  controller: Function = AliceController,
  handler: Function = BaseController.prototype.handle,
): ExecutionContext {
  // Nest's own context class, as its router builds it for a guard.
  const context = new ExecutionContextHost([request, {}, () => undefined], controller as Type, handler);
  context.setType('http');
  return context;
}

/** A request as Node parses it: header names lowercased in `headers`, as sent in `rawHeaders`. */
function request(headers: [string, string][]): FakeRequest {
  return {
    headers: Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value])),
    rawHeaders: headers.flat(),
  };
}

describe('CloudRunAuthGuard on a verified-token cache hit', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(() => emu?.close());

  const setup = (verifier?: IdTokenVerifier) => {
    const inbound = resolveInboundOptions({
      audience: AUDIENCE,
      allowedCallers: [ALICE],
      certsUrl: emu.certsUrl,
      maxHeaderBytes: 2048,
    })!;
    const v = verifier ?? new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
    const guard = bareGuard(RecordingGuard, inbound, v);
    return { guard, verifier: v };
  };
  const bearer = (token: string) => request([['Authorization', `Bearer ${token}`]]);

  it('allows a token it verified before synchronously, and records the same caller identity', async () => {
    const { guard } = setup();
    const token = mint(emu, AUDIENCE, { email: ALICE });
    const first = bearer(token);
    const pending = guard.canActivate(httpContext(first));
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toBe(true);
    const again = bearer(token);
    expect(guard.canActivate(httpContext(again))).toBe(true);
    // The identity is built once per verified token and shared (it is frozen).
    expect(getCallerIdentity(again)).toBe(getCallerIdentity(first));
    expect(getCallerIdentity(again)?.email).toBe(ALICE);
    // An object derived from the request does not inherit it.
    expect(getCallerIdentity(Object.create(again) as object)).toBeUndefined();
  });

  it('records identities on Node requests (Express) and on other request objects (Fastify) alike, in any order', async () => {
    const { guard } = setup();
    const token = mint(emu, AUDIENCE, { email: ALICE });
    await guard.canActivate(httpContext(bearer(token)));
    const nodeRequest = () => {
      const message = new IncomingMessage(new Socket());
      const { headers, rawHeaders } = bearer(token);
      message.rawHeaders = rawHeaders;
      Object.assign(message.headers, headers);
      return message as unknown as FakeRequest;
    };
    const requests = [bearer(token), nodeRequest(), nodeRequest(), bearer(token), nodeRequest(), bearer(token)];
    for (const req of requests) expect(guard.canActivate(httpContext(req))).toBe(true);
    for (const req of requests) expect(getCallerIdentity(req)?.email).toBe(ALICE);
    // Node's requests are not given a property: Express replaces their prototype, which makes adding one slow.
    const hasOwnIdentity = (req: object) =>
      Object.getOwnPropertySymbols(req).some((symbol) => symbol.description === 'CloudRunAuth caller identity');
    expect(requests.map(hasOwnIdentity)).toEqual([true, false, false, true, false, true]);
  });

  it('refuses a cached token of a caller the route does not allow with a rejection, never a synchronous throw', async () => {
    const { guard } = setup();
    const token = mint(emu, AUDIENCE, { email: BOB });
    await expect(guard.canActivate(httpContext(bearer(token), BobController))).resolves.toBe(true);
    const refused = bearer(token);
    const result = guard.canActivate(httpContext(refused, AliceController));
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toBeInstanceOf(ForbiddenException);
    expect(guard.reasons).toEqual(['caller_not_allowed']);
    expect(getCallerIdentity(refused)).toBeUndefined();
  });

  it('runs every header check before asking the cache', async () => {
    const { guard } = setup();
    const token = mint(emu, AUDIENCE, { email: ALICE });
    await guard.canActivate(httpContext(bearer(token)));
    const cases: [string, FakeRequest, string][] = [
      [
        'repeated header',
        request([
          ['Authorization', `Bearer ${token}`],
          ['authorization', `Bearer ${token}`],
        ]),
        'duplicate_header',
      ],
      ['oversized header', bearer(`${' '.repeat(2048)}${token}`), 'header_too_large'],
      ['another scheme', request([['Authorization', `Basic ${token}`]]), 'malformed_header'],
      ['no space after the scheme', request([['Authorization', `Bearer${token}`]]), 'malformed_header'],
      ['trailing junk', request([['Authorization', `Bearer ${token} junk`]]), 'malformed_header'],
      ['a character outside b64token', request([['Authorization', `Bearer ${token}!`]]), 'malformed_header'],
      [
        'bad X-Serverless-Authorization',
        request([
          ['X-Serverless-Authorization', `Basic ${token}`],
          ['Authorization', `Bearer ${token}`],
        ]),
        'malformed_header',
      ],
      ['more after the token', bearer(`${token}.x`), 'malformed'],
    ];
    for (const [name, req, reason] of cases) {
      const result = guard.canActivate(httpContext(req));
      expect(result, name).toBeInstanceOf(Promise);
      await expect(result, name).rejects.toBeInstanceOf(UnauthorizedException);
      expect(guard.reasons.at(-1), name).toBe(reason);
      expect(getCallerIdentity(req), name).toBeUndefined();
    }
    // Still cached: the refusals were about the headers.
    expect(guard.canActivate(httpContext(bearer(token)))).toBe(true);
    // Spaces and case are the RFC's: accepted, by verify() (answered from its cache).
    await expect(guard.canActivate(httpContext(request([['Authorization', `bEARER   ${token}`]])))).resolves.toBe(true);
  });

  it('asks a verifier whose verify() is overridden every time', async () => {
    const verifier = new AuditingVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl });
    const { guard } = setup(verifier);
    const token = mint(emu, AUDIENCE, { email: ALICE });
    for (let i = 0; i < 3; i += 1) await expect(guard.canActivate(httpContext(bearer(token)))).resolves.toBe(true);
    expect(verifier.calls).toBe(3);
  });

  it('reads route metadata per controller, also for a handler that several controllers inherit', async () => {
    const { guard } = setup();
    const alice = mint(emu, AUDIENCE, { email: ALICE });
    const bob = mint(emu, AUDIENCE, { email: BOB });
    // Either a boolean or a promise of one: the second round is answered from the cache.
    const activate = async (req: FakeRequest, controller: Function) => guard.canActivate(httpContext(req, controller));
    for (let round = 0; round < 2; round += 1) {
      await expect(activate(bearer(alice), AliceController)).resolves.toBe(true);
      await expect(activate(bearer(bob), BobController)).resolves.toBe(true);
      await expect(activate(bearer(bob), AliceController)).rejects.toBeInstanceOf(ForbiddenException);
      await expect(activate(bearer(alice), BobController)).rejects.toBeInstanceOf(ForbiddenException);
      expect(guard.canActivate(httpContext(request([]), OpenController))).toBe(true);
      await expect(activate(request([]), AliceController)).rejects.toBeInstanceOf(UnauthorizedException);
    }
  });

  it('remembers a pass per identity and allow-list only: another list decides anew, every time', async () => {
    const { guard } = setup();
    const alice = mint(emu, AUDIENCE, { email: ALICE });
    await guard.canActivate(httpContext(bearer(alice), AliceController));
    for (let round = 0; round < 3; round += 1) {
      expect(guard.canActivate(httpContext(bearer(alice), AliceController))).toBe(true);
      await expect(guard.canActivate(httpContext(bearer(alice), BobController))).rejects.toBeInstanceOf(
        ForbiddenException,
      );
    }
    expect(guard.reasons).toEqual(['caller_not_allowed', 'caller_not_allowed', 'caller_not_allowed']);
  });

  it('asks an overridden checkCaller() on every request', async () => {
    const inbound = resolveInboundOptions({ audience: AUDIENCE, allowedCallers: [ALICE], certsUrl: emu.certsUrl })!;
    class CountingGuard extends CloudRunAuthGuard {
      checks = 0;
      protected override checkCaller(identity: CallerIdentity, allowList: CallerAllowList) {
        this.checks += 1;
        return this.checks > 3
          ? { status: 403 as const, reason: 'caller_not_allowed' as const, detail: 'enough' }
          : super.checkCaller(identity, allowList);
      }
    }
    const guard = bareGuard(
      CountingGuard,
      inbound,
      new IdTokenVerifier({ audience: AUDIENCE, certsUrl: emu.certsUrl }),
    );
    const alice = mint(emu, AUDIENCE, { email: ALICE });
    // The first is verified (a promise), the next two answered from the cache (a boolean).
    for (let i = 0; i < 3; i += 1) expect(await guard.canActivate(httpContext(bearer(alice)))).toBe(true);
    await expect(guard.canActivate(httpContext(bearer(alice)))).rejects.toBeInstanceOf(ForbiddenException);
    expect(guard.checks).toBe(4);
  });
});
