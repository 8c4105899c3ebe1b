import { ChannelCredentials } from '@grpc/grpc-js';
import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createGrpcCredentials,
  createIdTokenCallCredentials,
  getGrpcCredentialsToken,
  InjectGrpcCredentials,
} from '../lib/grpc/index.js';
import {
  CloudRunAuthConfigError,
  CloudRunAuthModule,
  getServiceClientToken,
  IdTokenCache,
  ServiceClient,
  type CloudRunAuthModuleAsyncOptions,
  type ServiceDefinition,
} from '../lib/index.js';
import { restoreEnvAfterEach } from './utils/env.js';
import { CountingProvider } from './utils/tokens.js';

const INVENTORY = 'https://inventory-abc123-ew.a.run.app';

@Injectable()
class InventoryConsumer {
  constructor(@InjectGrpcCredentials('inventory') readonly credentials: ChannelCredentials) {}
}

describe('gRPC services in CloudRunAuthModule', () => {
  let moduleRef: TestingModule | undefined;
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  const boot = async (imports: unknown[], providers: unknown[] = []) => {
    moduleRef = await Test.createTestingModule({
      imports: imports as never[],
      providers: providers as never[],
    }).compile();
    return moduleRef.init();
  };
  const bootError = (imports: unknown[]) =>
    boot(imports).then(
      () => expect.unreachable('booted'),
      (e: unknown) => e,
    );

  it("forRoot: a transport 'grpc' service gets TLS ChannelCredentials, and no ServiceClient", async () => {
    const services: ServiceDefinition[] = [
      { name: 'inventory', url: INVENTORY, transport: 'grpc' },
      { name: 'orders', url: 'https://orders-abc123-ew.a.run.app' },
    ];
    const app = await boot(
      [CloudRunAuthModule.forRoot({ services, tokenProvider: new CountingProvider() })],
      [InventoryConsumer],
    );
    const { credentials } = app.get(InventoryConsumer);
    expect(credentials).toBeInstanceOf(ChannelCredentials);
    expect(credentials._isSecure()).toBe(true);
    expect(app.get(getServiceClientToken('orders'))).toBeInstanceOf(ServiceClient);
    expect(() => app.get(getServiceClientToken('inventory'))).toThrow();
    expect(() => app.get(getGrpcCredentialsToken('orders'))).toThrow();
  });

  it('prefetch warms the cache for gRPC services too', async () => {
    const provider = new CountingProvider();
    await boot([
      CloudRunAuthModule.forRoot({
        services: [{ name: 'inventory', url: INVENTORY, transport: 'grpc' }],
        tokenProvider: provider,
        prefetch: true,
      }),
    ]);
    expect(provider.calls).toEqual([INVENTORY]);
  });

  it('forFeature exports the credentials of its gRPC services to the importing module', async () => {
    @Module({
      imports: [CloudRunAuthModule.forFeature([{ name: 'inventory', url: INVENTORY, transport: 'grpc' }])],
      providers: [InventoryConsumer],
      exports: [InventoryConsumer],
    })
    class InventoryModule {}
    const app = await boot([CloudRunAuthModule.forRoot({ tokenProvider: new CountingProvider() }), InventoryModule]);
    expect(app.get(InventoryConsumer).credentials._isSecure()).toBe(true);
  });

  it('forRootAsync: serviceNames declares a gRPC service as { name, transport }', async () => {
    const app = await boot(
      [
        CloudRunAuthModule.forRootAsync({
          serviceNames: [{ name: 'inventory', transport: 'grpc' }, 'orders'],
          useFactory: () => ({
            tokenProvider: new CountingProvider(),
            services: [
              { name: 'inventory', url: INVENTORY, transport: 'grpc' as const },
              { name: 'orders', url: 'https://orders-abc123-ew.a.run.app' },
            ],
          }),
        }),
      ],
      [InventoryConsumer],
    );
    expect(app.get(InventoryConsumer).credentials).toBeInstanceOf(ChannelCredentials);
    expect(app.get(getServiceClientToken('orders'))).toBeInstanceOf(ServiceClient);
  });

  it.each([
    [
      ['inventory'],
      'grpc',
      "is 'grpc', but serviceNames declares \"inventory\" with transport 'http' (list it as { name: 'inventory', transport: 'grpc' })",
    ],
    [
      [{ name: 'inventory', transport: 'grpc' }],
      'http',
      "is 'http', but serviceNames declares \"inventory\" with transport 'grpc'",
    ],
  ] as const)(
    'forRootAsync fails at boot when serviceNames %j disagrees on the transport',
    async (serviceNames, transport, problem) => {
      const error = await bootError([
        CloudRunAuthModule.forRootAsync({
          serviceNames: [...serviceNames] as CloudRunAuthModuleAsyncOptions['serviceNames'],
          useFactory: () => ({ services: [{ name: 'inventory', url: INVENTORY, transport }] }),
        }),
      ]);
      expect(error).toEqual(new CloudRunAuthConfigError(problem, 'services[inventory].transport'));
    },
  );

  it.each([
    [[{ name: 'inventory' }], 'serviceNames[0]'],
    [[{ name: 'inventory', transport: 'websocket' }], 'serviceNames[0]'],
    [['orders', ''], 'serviceNames[1]'],
    ['orders', 'serviceNames'],
    [['orders', { name: 'orders', transport: 'grpc' }], 'serviceNames'],
  ])('forRootAsync refuses serviceNames %j, naming %s', (serviceNames, field) => {
    const declare = () =>
      CloudRunAuthModule.forRootAsync({ serviceNames: serviceNames as never, useFactory: () => ({}) });
    expect(declare).toThrow(CloudRunAuthConfigError);
    expect(declare).toThrow(`invalid configuration at ${field}:`);
  });

  it.each([
    [{ transport: 'websocket' }, 'services[inventory].transport', "must be 'http' or 'grpc'"],
    [
      { transport: 'grpc', http: { timeout: 1000 } },
      'services[inventory].http',
      "configures the axios client of transport 'http'; a gRPC service has none",
    ],
  ])('refuses %j at boot', async (fields, field, problem) => {
    const error = await bootError([
      CloudRunAuthModule.forRoot({ services: [{ name: 'inventory', url: INVENTORY, ...fields } as ServiceDefinition] }),
    ]);
    expect(error).toEqual(new CloudRunAuthConfigError(problem, field));
  });
});

describe('createGrpcCredentials and createIdTokenCallCredentials (nestjs-cloud-run-auth/grpc)', () => {
  restoreEnvAfterEach(['K_SERVICE']);
  const cache = new IdTokenCache(new CountingProvider());

  it('TLS for https, plain text for loopback http and for allowInsecureHttp off Cloud Run', () => {
    expect(createGrpcCredentials(cache, { url: INVENTORY })._isSecure()).toBe(true);
    expect(createGrpcCredentials(cache, { url: 'http://127.0.0.1:50051' })._isSecure()).toBe(false);
    const compose = { url: 'http://inventory:50051', allowInsecureHttp: true };
    expect(createGrpcCredentials(cache, compose)._isSecure()).toBe(false);
    process.env.K_SERVICE = 'gateway';
    expect(() => createGrpcCredentials(cache, compose)).toThrow('invalid configuration at options.allowInsecureHttp');
  });

  it.each([
    [{ url: 'http://inventory:50051' }, 'options.url', /plain http is only allowed to loopback/],
    [{ url: 'inventory:443' }, 'options.url', /must be an https: URL/],
    [{ url: INVENTORY, audiences: [INVENTORY] }, 'options.audiences', /unknown option/],
    [{ url: INVENTORY, tokenHeader: 'x-goog-token' }, 'options.tokenHeader', /must be 'authorization'/],
    [{ url: INVENTORY, tokenProvider: {} }, 'options.tokenProvider', /extending IdTokenProvider/],
  ])('refuses %j, naming %s', (options, field, problem) => {
    for (const create of [createGrpcCredentials, createIdTokenCallCredentials]) {
      const error = (() => {
        try {
          create(cache, options as never);
        } catch (e) {
          return e as CloudRunAuthConfigError;
        }
      })();
      expect(error).toBeInstanceOf(CloudRunAuthConfigError);
      expect(error!.field).toBe(field);
      expect(error!.problem).toMatch(problem);
    }
  });

  it('needs an IdTokenCache', () => {
    expect(() => createGrpcCredentials(undefined as never, { url: INVENTORY })).toThrow(
      new CloudRunAuthConfigError('must be an IdTokenCache', 'cache'),
    );
  });
});
