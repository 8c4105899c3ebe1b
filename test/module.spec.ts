import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ConfigModule, registerAs } from '@nestjs/config';
import { firstValueFrom } from 'rxjs';
import {
  CloudRunAuthConfigError,
  CloudRunAuthModule,
  getServiceClientToken,
  IdTokenProvider,
  InjectServiceClient,
  ServiceClient,
  type CloudRunAuthModuleOptions,
  type CloudRunAuthOptionsFactory,
} from '../lib/index.js';
import { HttpService } from '@nestjs/axios';
import { bearer, startTarget, type Target } from './utils/target.js';
import { CountingProvider } from './utils/tokens.js';

@Injectable()
class OrdersConsumer {
  constructor(@InjectServiceClient('orders') readonly orders: ServiceClient) {}
}

describe('CloudRunAuthModule', () => {
  let target: Target;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    target = await startTarget();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await target.close();
  });

  async function boot(imports: unknown[], providers: unknown[] = []) {
    const moduleRef = await Test.createTestingModule({
      imports: imports as never[],
      providers: providers as never[],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  it('forRoot(services[]) registers one injectable ServiceClient per service, an HttpService', async () => {
    const provider = new CountingProvider();
    await boot(
      [CloudRunAuthModule.forRoot({ services: [{ name: 'orders', url: target.url }], tokenProvider: provider })],
      [OrdersConsumer],
    );
    const { orders } = app!.get(OrdersConsumer);
    expect(orders).toBeInstanceOf(ServiceClient);
    expect(orders).toBeInstanceOf(HttpService);
    await firstValueFrom(orders.get('/x'));
    await orders.axiosRef.get('/y');
    expect(provider.calls).toEqual([target.url]);
    expect(target.requests.map((r) => bearer(r.headers)?.split('.').length)).toEqual([3, 3]);
  });

  it('forRoot accepts the plain array form', async () => {
    process.env.GCE_METADATA_HOST = '127.0.0.1:9';
    await boot(
      [CloudRunAuthModule.forRoot([{ name: 'orders', url: target.url, authenticate: false }])],
      [OrdersConsumer],
    );
    await app!.get(OrdersConsumer).orders.axiosRef.get('/x');
    expect(target.requests).toHaveLength(1);
  });

  it('is global by default and can opt out', async () => {
    @Module({ providers: [OrdersConsumer] })
    class FeatureModule {}
    const services = [{ name: 'orders', url: target.url, authenticate: false }];
    await boot([CloudRunAuthModule.forRoot(services), FeatureModule]);
    await app!.close();
    app = undefined;
    await expect(boot([CloudRunAuthModule.forRoot({ services, isGlobal: false }), FeatureModule])).rejects.toThrow(
      /CloudRunAuthServiceClient:orders/,
    );
  });

  it('forRootAsync with useFactory and inject', async () => {
    const provider = new CountingProvider();
    @Module({ providers: [{ provide: 'ORDERS_URL', useValue: target.url }], exports: ['ORDERS_URL'] })
    class UrlModule {}
    await boot(
      [
        CloudRunAuthModule.forRootAsync({
          serviceNames: ['orders'],
          imports: [UrlModule],
          inject: ['ORDERS_URL'],
          useFactory: async (url: string) => ({ services: [{ name: 'orders', url }], tokenProvider: provider }),
        }),
      ],
      [OrdersConsumer],
    );
    await app!.get(OrdersConsumer).orders.axiosRef.get('/x');
    expect(provider.calls).toEqual([target.url]);
  });

  it('forRootAsync with @nestjs/config registerAs(...).asProvider()', async () => {
    process.env.ORDERS_URL = target.url;
    const cloudRunConfig = registerAs('cloudRun', (): CloudRunAuthModuleOptions => ({
      services: [{ name: 'orders', url: process.env.ORDERS_URL!, authenticate: false }],
    }));
    await boot(
      [
        ConfigModule.forRoot({ ignoreEnvFile: true }),
        CloudRunAuthModule.forRootAsync({ serviceNames: ['orders'], ...cloudRunConfig.asProvider() }),
      ],
      [OrdersConsumer],
    );
    await app!.get(OrdersConsumer).orders.axiosRef.get('/cfg');
    expect(target.requests[0]!.url).toBe('/cfg');
  });

  it.each(['useClass', 'useExisting'] as const)('forRootAsync with %s', async (kind) => {
    @Injectable()
    class OptionsFactory implements CloudRunAuthOptionsFactory {
      createCloudRunAuthOptions(): CloudRunAuthModuleOptions {
        return { services: [{ name: 'orders', url: target.url, authenticate: false }] };
      }
    }
    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class FactoryModule {}
    const asyncOptions =
      kind === 'useClass'
        ? { serviceNames: ['orders'], useClass: OptionsFactory }
        : { serviceNames: ['orders'], imports: [FactoryModule], useExisting: OptionsFactory };
    await boot([CloudRunAuthModule.forRootAsync(asyncOptions)], [OrdersConsumer]);
    await app!.get(OrdersConsumer).orders.axiosRef.get('/x');
    expect(target.requests).toHaveLength(1);
  });

  it.each([
    [['orders'], [{ name: 'orders' }, { name: 'billing' }], /"billing".*not listed in serviceNames/],
    [['orders', 'billing'], [{ name: 'orders' }], /serviceNames lists "billing"/],
  ])(
    'forRootAsync fails at boot when the factory disagrees with serviceNames %j',
    async (serviceNames, returned, message) => {
      const services = returned.map((s) => ({ ...s, url: 'https://svc.example' }));
      const error = await boot([
        CloudRunAuthModule.forRootAsync({ serviceNames, useFactory: () => ({ services }) }),
      ]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect((error as Error).message).toMatch(message);
    },
  );

  it('forRootAsync without serviceNames: the factory returns orders, but only after Nest fixed the tokens', async () => {
    let factoryRan = false;
    const error = await boot(
      [
        CloudRunAuthModule.forRootAsync({
          useFactory: () => {
            factoryRan = true;
            return { services: [{ name: 'orders', url: target.url, authenticate: false }] };
          },
        }),
      ],
      [OrdersConsumer],
    ).catch((e: unknown) => e);
    expect(factoryRan).toBe(true);
    expect((error as Error).message).toMatch(
      /can't resolve dependencies of the OrdersConsumer.*CloudRunAuthServiceClient:orders/s,
    );
  });

  it('forRootAsync with each name written once: serviceNames is the list the factory maps (docs/outbound.md)', async () => {
    const SERVICES = ['orders', 'billing'];
    const urls: Record<string, string> = { ORDERS_URL: target.url, BILLING_URL: target.url };
    await boot(
      [
        CloudRunAuthModule.forRootAsync({
          serviceNames: SERVICES,
          useFactory: () => ({
            services: SERVICES.map((name) => ({ name, url: urls[`${name.toUpperCase()}_URL`]!, authenticate: false })),
          }),
        }),
      ],
      [OrdersConsumer],
    );
    await app!.get(OrdersConsumer).orders.axiosRef.get('/o');
    await app!.get<ServiceClient>(getServiceClientToken('billing')).axiosRef.get('/b');
    expect(target.requests.map((r) => r.url)).toEqual(['/o', '/b']);
  });

  it.each<[string, CloudRunAuthModuleOptions, string, RegExp]>([
    [
      'duplicate names',
      {
        services: [
          { name: 'a', url: 'https://a.example' },
          { name: 'a', url: 'https://b.example' },
        ],
      },
      'services[a].name',
      /duplicate/,
    ],
    ['a relative URL', { services: [{ name: 'a', url: '/orders' }] }, 'services[a].url', /absolute URL/],
    [
      'plain http to a remote host',
      { services: [{ name: 'a', url: 'http://orders.example' }] },
      'services[a].url',
      /loopback/,
    ],
    ['a non-http scheme', { services: [{ name: 'a', url: 'ftp://orders.example' }] }, 'services[a].url', /https/],
    [
      'an empty audience',
      { services: [{ name: 'a', url: 'https://a.example', audience: ' ' }] },
      'services[a].audience',
      /non-empty/,
    ],
    [
      'an unknown service option',
      { services: [{ name: 'a', url: 'https://a.example', audiance: 'x' } as never] },
      'services[a].audiance',
      /unknown option/,
    ],
    ['an unknown module option', { servics: [] } as never, 'options.servics', /unknown option/],
    [
      'a bad tokenHeader',
      { services: [{ name: 'a', url: 'https://a.example', tokenHeader: 'x-api-key' as never }] },
      'services[a].tokenHeader',
      /x-serverless/,
    ],
    [
      'a baseURL in http',
      { services: [{ name: 'a', url: 'https://a.example', http: { baseURL: 'https://b.example' } }] },
      'services[a].http.baseURL',
      /url/,
    ],
    ['a missing name', { services: [{ url: 'https://a.example' } as never] }, 'services[0].name', /non-empty/],
    ['a bad cache setting', { tokenCache: { timeoutMs: -1 } }, 'tokenCache.timeoutMs', /positive/],
    [
      'credentials in the URL',
      { services: [{ name: 'a', url: 'https://u:p@a.example' }] },
      'services[a].url',
      /credentials/,
    ],
    [
      'plain http to a remote IAM endpoint',
      { credentials: { iamCredentialsUrl: 'http://iam.example' } },
      'credentials.iamCredentialsUrl',
      /loopback/,
    ],
    [
      'delegates without impersonate',
      { credentials: { delegates: ['a@p.iam.gserviceaccount.com'] } },
      'credentials.delegates',
      /impersonate/,
    ],
  ])('fails at boot on %s, naming the field', async (_what, options, field, message) => {
    const error = await boot([CloudRunAuthModule.forRoot(options)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudRunAuthConfigError);
    expect((error as CloudRunAuthConfigError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect((error as Error).message).toMatch(message);
  });

  it.each(['http://localhost:8080', 'http://127.0.0.1:8080', 'http://[::1]:8080'])(
    'allows plain http to loopback %s',
    async (url) => {
      await boot([CloudRunAuthModule.forRoot([{ name: 'a', url }])]);
      expect(app!.get<ServiceClient>(getServiceClientToken('a')).service.audience).toBe(url);
    },
  );

  it('getServiceClientToken lets tests override a client', async () => {
    const fake = { get: () => 'overridden' };
    const moduleRef = await Test.createTestingModule({
      imports: [CloudRunAuthModule.forRoot([{ name: 'orders', url: 'https://orders.example' }])],
      providers: [OrdersConsumer],
    })
      .overrideProvider(getServiceClientToken('orders'))
      .useValue(fake)
      .compile();
    expect(moduleRef.get(OrdersConsumer).orders).toBe(fake);
  });

  it('the active IdTokenProvider is injectable by its class', async () => {
    const provider = new CountingProvider();
    await boot([CloudRunAuthModule.forRoot({ tokenProvider: provider })]);
    expect(app!.get(IdTokenProvider)).toBe(provider);
  });
});
