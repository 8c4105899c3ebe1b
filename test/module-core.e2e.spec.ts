import { afterEach, describe, expect, it } from 'vitest';
import {
  Controller,
  Get,
  Global,
  Injectable,
  Module,
  Scope,
  UseGuards,
  type DynamicModule,
  type INestApplication,
  type Provider,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  Caller,
  CloudRunAuthConfigError,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  IdTokenCache,
  IdTokenVerifier,
  InjectServiceClient,
  ServiceClient,
  SkipCloudRunAuth,
  type CallerIdentity,
} from '../lib/index.js';
import type { Emulator } from '../lib/testing/index.js';
import { type Target } from './utils/target.js';
import { useLoopbackStack } from './utils/loopback-stack.js';

const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity';

let emu: Emulator;
let target: Target;
let app: INestApplication | undefined;

useLoopbackStack((stack) => ({ emu, target } = stack));
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function boot(
  imports: unknown[],
  providers: Provider[] = [],
  controllers: unknown[] = [],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers,
    controllers: controllers as never[],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

async function bootError(imports: unknown[]): Promise<CloudRunAuthConfigError> {
  try {
    await boot(imports);
  } catch (error) {
    return error as CloudRunAuthConfigError;
  }
  throw new Error('the application booted');
}

/** A feature module that injects the client of `name` from its own `forFeature()` import. */
function featureModule(name: string, url: string) {
  @Injectable()
  class Consumer {
    constructor(@InjectServiceClient(name) readonly client: ServiceClient) {}
  }
  @Module({ imports: [CloudRunAuthModule.forFeature([{ name, url }])], providers: [Consumer], exports: [Consumer] })
  class Feature {}
  return { Feature, Consumer };
}

/** Every provider of a dynamic module and of the dynamic modules it imports. */
function providersOf(module: DynamicModule): Provider[] {
  const nested = (module.imports ?? []).filter(
    (m): m is DynamicModule => typeof m === 'object' && m !== null && 'module' in m,
  );
  return [...(module.providers ?? []), ...nested.flatMap(providersOf)];
}
const appGuards = (module: DynamicModule) =>
  providersOf(module).filter((p) => typeof p === 'object' && (p as { provide?: unknown }).provide === APP_GUARD);

describe('one core per application', () => {
  it('forRoot + two forFeature modules with the same audience: one metadata call, one cache', async () => {
    const a = featureModule('orders-a', target.url);
    const b = featureModule('orders-b', target.url);
    await boot([CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url }]), a.Feature, b.Feature]);
    const clients = [
      app!.get<ServiceClient>('CloudRunAuthServiceClient:orders'),
      app!.get(a.Consumer).client,
      app!.get(b.Consumer).client,
    ];
    await Promise.all(clients.map((client) => client.axiosRef.get('/x')));
    expect(emu.requestCount(IDENTITY)).toBe(1);
    const tokens = new Set(target.requests.map((r) => r.headers.authorization));
    expect(target.requests).toHaveLength(3);
    expect(tokens.size).toBe(1);
  });

  it('a feature client shares the identity of the root: same audience, same identity, one fetch', async () => {
    const { Feature, Consumer } = featureModule('billing', target.url);
    await boot([CloudRunAuthModule.forRoot({ services: [{ name: 'orders', url: target.url }] }), Feature]);
    const root = app!.get<ServiceClient>('CloudRunAuthServiceClient:orders');
    expect(app!.get(Consumer).client.definition.tokenProvider).toBe(root.definition.tokenProvider);
  });

  it('prefetch warms the services of forFeature modules too', async () => {
    const { Feature } = featureModule('billing', `${target.url}/billing`);
    await boot([CloudRunAuthModule.forRoot({ prefetch: true }), Feature]);
    expect(emu.requests(IDENTITY).map((r) => r.query.audience)).toEqual([target.url]);
  });

  it('a client shared by two features is declared once, in a module that exports it', async () => {
    const shared = featureModule('orders', target.url);
    @Module({ imports: [shared.Feature] })
    class FeatureA {}
    @Module({ imports: [shared.Feature] })
    class FeatureB {}
    await boot([CloudRunAuthModule.forRoot(), FeatureA, FeatureB]);
    await app!.get(shared.Consumer).client.axiosRef.get('/x');
    expect(emu.requestCount(IDENTITY)).toBe(1);
  });

  it.each([
    ['different', 'https://orders-other.example'],
    ['identical', undefined],
  ])(
    'fails at boot on a service name declared by two features (%s definitions), naming both declarations',
    async (_what, otherUrl) => {
      const a = featureModule('orders', target.url);
      const b = featureModule('orders', otherUrl ?? target.url);
      const error = await bootError([CloudRunAuthModule.forRoot(), a.Feature, b.Feature]);
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect(error.field).toBe('services[orders].name');
      const declarations = error.message.match(
        /CloudRunAuthModule\.forFeature\(\) at [^ ]*featureModule[^)]*module-core\.e2e\.spec\.ts:\d+:\d+\)/g,
      );
      expect(declarations).toHaveLength(2);
    },
  );

  it('fails at boot on a service name declared by forRoot and by a feature', async () => {
    const { Feature } = featureModule('orders', target.url);
    const error = await bootError([CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url }]), Feature]);
    expect(error.field).toBe('services[orders].name');
    expect(error.message).toMatch(
      /declared twice, by CloudRunAuthModule\.forRoot\(\) at .*module-core\.e2e\.spec\.ts.* and by CloudRunAuthModule\.forFeature\(\) at /,
    );
  });

  it('fails at boot when forFeature has no forRoot to share', async () => {
    const { Feature } = featureModule('orders', target.url);
    const error = await bootError([Feature]);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.message).toMatch(/forFeature\(\) at .* needs CloudRunAuthModule\.forRoot\(\) or forRootAsync\(\)/);
  });

  it('validates forFeature definitions at boot, naming the field', async () => {
    @Module({ imports: [CloudRunAuthModule.forFeature([{ name: 'orders', url: 'http://orders.example' }])] })
    class Feature {}
    const error = await bootError([CloudRunAuthModule.forRoot(), Feature]);
    expect(error.field).toBe('services[orders].url');
  });

  it('two forRoot imports fail at boot, naming both call sites', async () => {
    @Module({ imports: [CloudRunAuthModule.forRoot([{ name: 'billing', url: target.url }])] })
    class LibraryModule {}
    const error = await bootError([CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url }]), LibraryModule]);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect(error.message).toMatch(
      /configured twice, by CloudRunAuthModule\.forRoot\(\) at .*module-core\.e2e\.spec\.ts:\d+:\d+.* and by CloudRunAuthModule\.forRoot\(\) at .*module-core\.e2e\.spec\.ts:\d+:\d+/,
    );
    expect(error.message).toMatch(/use|forFeature/);
  });

  it('forRoot and forRootAsync together fail the same way', async () => {
    const error = await bootError([
      CloudRunAuthModule.forRoot(),
      CloudRunAuthModule.forRootAsync({ useFactory: () => ({}) }),
    ]);
    expect(error.message).toMatch(
      /configured twice, by CloudRunAuthModule\.forRoot\(\) at .* and by CloudRunAuthModule\.forRootAsync\(\) at /,
    );
  });

  it('a module holding forRoot imported from several places is one core', async () => {
    const auth = CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url }]);
    @Module({ imports: [auth], exports: [auth] })
    class SharedModule {}
    @Module({ imports: [SharedModule] })
    class FeatureA {}
    @Module({ imports: [SharedModule] })
    class FeatureB {}
    await boot([SharedModule, FeatureA, FeatureB]);
    expect(app!.get(IdTokenCache)).toBeInstanceOf(IdTokenCache);
  });

  it('a module containing a REQUEST-scoped provider alongside forRootAsync boots', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {}
    @Module({
      providers: [PerRequest, { provide: 'AUDIENCE', useValue: 'https://me.example' }],
      exports: [PerRequest, 'AUDIENCE'],
    })
    class ConfigLikeModule {}
    await boot([
      ConfigLikeModule,
      CloudRunAuthModule.forRootAsync({
        imports: [ConfigLikeModule],
        inject: ['AUDIENCE'],
        useFactory: (audience: string) => ({ inbound: { audience, allowAnyCaller: true } }),
        extraProviders: [PerRequest],
      }),
    ]);
    expect(app!.get(IdTokenVerifier)).toBeInstanceOf(IdTokenVerifier);
  });
});

describe('guard registration', () => {
  const inbound = () => ({ audience: 'https://me.example', allowAnyCaller: true, certsUrl: emu.certsUrl });

  it('registers no APP_GUARD without mount, one with it', () => {
    expect(appGuards(CloudRunAuthModule.forRoot({ inbound: inbound() }))).toHaveLength(0);
    expect(appGuards(CloudRunAuthModule.forRootAsync({ useFactory: () => ({ inbound: inbound() }) }))).toHaveLength(0);
    expect(appGuards(CloudRunAuthModule.forFeature([{ name: 'a', url: 'https://a.example' }]))).toHaveLength(0);
    expect(appGuards(CloudRunAuthModule.forRoot({ inbound: { ...inbound(), mount: true } }))).toHaveLength(1);
    expect(
      appGuards(CloudRunAuthModule.forRootAsync({ mount: true, useFactory: () => ({ inbound: inbound() }) })),
    ).toHaveLength(1);
  });

  describe('mount: a subclass of CloudRunAuthGuard', () => {
    @Injectable()
    class AuditLog {
      readonly entries: string[] = [];
    }
    @Global()
    @Module({ providers: [AuditLog], exports: [AuditLog] })
    class AuditModule {}

    /** With a dependency of its own: the guard's are injected as properties, so super() takes nothing. */
    @Injectable()
    class AuditedGuard extends CloudRunAuthGuard {
      constructor(private readonly audit: AuditLog) {
        super();
      }

      override async canActivate(context: Parameters<CloudRunAuthGuard['canActivate']>[0]): Promise<boolean> {
        try {
          return await super.canActivate(context);
        } finally {
          this.audit.entries.push(`${context.getClass().name}.${context.getHandler().name}`);
        }
      }
    }

    @Controller()
    class AppController {
      @Get('me')
      me(@Caller() caller: CallerIdentity) {
        return { email: caller.email };
      }

      @Get('health')
      @SkipCloudRunAuth()
      health() {
        return 'ok';
      }
    }

    async function listen(imports: unknown[]) {
      await boot(imports, [], [AppController]);
      await app!.listen(0, '127.0.0.1');
      return (await app!.getUrl()).replace('[::1]', '127.0.0.1');
    }

    it.each([
      ['forRoot', () => CloudRunAuthModule.forRoot({ inbound: { ...inbound(), mount: AuditedGuard } })],
      [
        'forRootAsync',
        () => CloudRunAuthModule.forRootAsync({ mount: AuditedGuard, useFactory: () => ({ inbound: inbound() }) }),
      ],
    ])('mounts the subclass with its injected dependency (%s)', async (_name, auth) => {
      const url = await listen([AuditModule, auth()]);
      expect((await fetch(`${url}/me`)).status).toBe(401);
      const token = emu.mintIdToken({ aud: 'https://me.example' });
      const allowed = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ email: emu.serviceAccountEmail });
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect(app!.get(AuditLog).entries).toEqual(['AppController.me', 'AppController.me', 'AppController.health']);
      expect(app!.get(AuditedGuard)).toBeInstanceOf(AuditedGuard);
    });

    /** No constructor at all. */
    @Injectable()
    class PlainGuard extends CloudRunAuthGuard {
      protected override shouldSkip(context: Parameters<CloudRunAuthGuard['canActivate']>[0]): boolean {
        return context.getHandler().name === 'health' || super.shouldSkip(context);
      }
    }

    @Controller('bound')
    class BoundController {
      @Get('plain')
      @UseGuards(PlainGuard)
      plain(@Caller('email') email: string) {
        return { email };
      }

      @Get('audited')
      @UseGuards(AuditedGuard)
      audited(@Caller('email') email: string) {
        return { email };
      }
    }

    it.each([
      ['without a constructor', PlainGuard],
      ['with a dependency of its own', AuditedGuard],
    ])('a subclass %s mounts with mount: and binds with @UseGuards()', async (_name, Guard) => {
      await boot(
        [AuditModule, CloudRunAuthModule.forRoot({ inbound: { ...inbound(), mount: Guard } })],
        [],
        [AppController, BoundController],
      );
      await app!.listen(0, '127.0.0.1');
      const url = (await app!.getUrl()).replace('[::1]', '127.0.0.1');
      const headers = { authorization: `Bearer ${emu.mintIdToken({ aud: 'https://me.example' })}` };
      for (const path of ['/me', '/bound/plain', '/bound/audited']) {
        expect((await fetch(url + path)).status, path).toBe(401);
        const allowed = await fetch(url + path, { headers });
        expect(allowed.status, path).toBe(200);
        expect(await allowed.json(), path).toEqual({ email: emu.serviceAccountEmail });
      }
      expect(app!.get(Guard)).toBeInstanceOf(Guard);
    });

    it('takes mount for forRootAsync from its own options, not from the factory', async () => {
      const fromFactory = await bootError([
        CloudRunAuthModule.forRootAsync({ useFactory: () => ({ inbound: { ...inbound(), mount: true } }) }),
      ]);
      expect(fromFactory.field).toBe('inbound.mount');
      expect(fromFactory.message).toMatch(/set mount in the forRootAsync\(\) options/);
      const withoutInbound = await bootError([
        CloudRunAuthModule.forRootAsync({ mount: true, useFactory: () => ({}) }),
      ]);
      expect(withoutInbound.field).toBe('mount');
      expect(withoutInbound.message).toMatch(/no inbound options/);
    });
  });
});
