import { Controller, Get, Injectable, Module, UseGuards, type INestApplication, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AllowedCallers,
  Caller,
  CloudRunAuthConfigError,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  SkipCloudRunAuth,
  type CloudRunAuthModuleOptions,
} from '../lib/index.js';
import { TEST_CALLER_HEADER, testCallerGuard } from '../lib/testing/index.js';

/**
 * The testing story for guarded controllers: `overrideGuard(<the guard>).useClass(testCallerGuard(...))`
 * runs the real guard with a test caller, without an emulator or any network (`certsUrl`
 * points at a port nothing listens on, so any key fetch would be a 503), with `mount:`
 * and `@UseGuards()` alike.
 */

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const GATEWAY = 'gateway@shop-project.iam.gserviceaccount.com';
const ADMIN = 'admin@shop-project.iam.gserviceaccount.com';
const CLOSED_PORT_CERTS = 'http://127.0.0.1:9/oauth2/v3/certs';

@Controller('orders')
class OrdersController {
  @Get('health')
  @SkipCloudRunAuth()
  health() {
    return 'ok';
  }

  @Get('mine')
  mine(@Caller('email') email: string) {
    return { email };
  }

  @Get('admin')
  @AllowedCallers(ADMIN)
  admin(@Caller('email') email: string) {
    return { email };
  }
}

@Controller('bound')
@UseGuards(CloudRunAuthGuard)
class BoundController {
  @Get()
  bound(@Caller('email') email: string) {
    return { email };
  }
}

@Injectable()
class AuditedGuard extends CloudRunAuthGuard {}

const inbound = (mount: boolean | Type<CloudRunAuthGuard>): CloudRunAuthModuleOptions => ({
  inbound: { audience: AUDIENCE, allowedCallers: [GATEWAY, ADMIN], certsUrl: CLOSED_PORT_CERTS, mount },
});

describe('testCallerGuard: a guarded app tested without the emulator', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(options: CloudRunAuthModuleOptions, override: Type, guard: Type) {
    @Module({ imports: [CloudRunAuthModule.forRoot(options)], controllers: [OrdersController, BoundController] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideGuard(override)
      .useClass(guard)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    return async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url + path, { headers });
      const json = res.status === 200 && res.headers.get('content-type')?.includes('json');
      return { status: res.status, body: json ? await res.json() : undefined };
    };
  }

  it.each([
    ['mount: true, overrideGuard(CloudRunAuthGuard)', inbound(true), CloudRunAuthGuard],
    ['mount: a subclass, overrideGuard(subclass)', inbound(AuditedGuard), AuditedGuard],
  ])('%s: the fixed caller, @Caller() filled, allow-lists applied', async (_name, options, override) => {
    const call = await start(options, override, testCallerGuard(GATEWAY));
    expect(await call('/orders/mine')).toEqual({ status: 200, body: { email: GATEWAY } });
    expect((await call('/orders/admin')).status).toBe(403);
    expect(await call('/orders/admin', { [TEST_CALLER_HEADER]: ADMIN })).toEqual({
      status: 200,
      body: { email: ADMIN },
    });
    expect(
      (await call('/orders/mine', { [TEST_CALLER_HEADER]: 'stranger@elsewhere.iam.gserviceaccount.com' })).status,
    ).toBe(403);
    expect((await call('/orders/health')).status).toBe(200);
    // @UseGuards(CloudRunAuthGuard) is overridden only where that class is the one overridden.
    const bound = override === CloudRunAuthGuard ? { status: 200, body: { email: GATEWAY } } : { status: 401 };
    expect(await call('/bound')).toMatchObject(bound);
  });

  it('@UseGuards(CloudRunAuthGuard) without mount; no default caller: the header names it, its absence is a 401', async () => {
    const call = await start(inbound(false), CloudRunAuthGuard, testCallerGuard());
    expect((await call('/bound')).status).toBe(401);
    expect(await call('/bound', { [TEST_CALLER_HEADER]: GATEWAY })).toEqual({ status: 200, body: { email: GATEWAY } });
    // Unguarded without mount.
    expect(await call('/orders/mine', { [TEST_CALLER_HEADER]: GATEWAY })).toMatchObject({ status: 500 });
  });

  it('ignores a real token header: only the test caller counts', async () => {
    const call = await start(inbound(true), CloudRunAuthGuard, testCallerGuard());
    expect((await call('/orders/mine', { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln' })).status).toBe(401);
  });

  it('refuses to boot on Cloud Run (K_SERVICE set)', async () => {
    process.env.K_SERVICE = 'orders';
    const error = await start(inbound(true), CloudRunAuthGuard, testCallerGuard(GATEWAY))
      .catch((e: unknown) => e)
      .finally(() => delete process.env.K_SERVICE);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect((error as CloudRunAuthConfigError).field).toBe('testCallerGuard');
  });

  it('with mount: true, overrideGuard(CloudRunAuthGuard) also replaces the mounted guard with any guard', async () => {
    const call = await start(
      inbound(true),
      CloudRunAuthGuard,
      class AllowAll {
        canActivate() {
          return true;
        }
      },
    );
    expect((await call('/orders/health')).status).toBe(200);
    // The mounted guard no longer runs: no identity for @Caller() (a 500, as with any unguarded route).
    expect((await call('/orders/mine')).status).toBe(500);
  });
});
