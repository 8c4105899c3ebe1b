/**
 * The example of README's "Testing your own services", as a user writes it: the package is
 * imported by its name (resolved to dist/ through the package's exports), nothing from lib/.
 * Keep the two in sync.
 */
import { Controller, Get, Module, Param, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Caller, CloudRunAuthModule, InjectServiceClient, ServiceClient } from 'nestjs-cloud-run-auth';
import { startEmulator, type Emulator } from 'nestjs-cloud-run-auth/testing';

// --- the application under test (normally imported from src/) ---
@Controller('orders')
class OrdersController {
  @Get(':id')
  get(@Param('id') id: string, @Caller('email') caller: string) {
    return { id, caller };
  }
}

@Controller('checkout')
class CheckoutController {
  constructor(@InjectServiceClient('orders') private readonly orders: ServiceClient) {}

  @Get(':id')
  async checkout(@Param('id') id: string) {
    const { data } = await this.orders.axiosRef.get(`/orders/${id}`);
    return { order: data };
  }
}
// ---

const ORDERS_AUDIENCE = 'https://orders-123456789.europe-west1.run.app';
const GATEWAY = 'gateway@my-project.iam.gserviceaccount.com';

describe('orders, behind CloudRunAuthGuard', () => {
  let emu: Emulator;
  let app: INestApplication;
  let url: string;
  const get = (path: string, token?: string) =>
    fetch(url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    emu = await startEmulator({ serviceAccountEmail: GATEWAY });
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: { audience: ORDERS_AUDIENCE, allowedCallers: [GATEWAY], mount: true, certsUrl: emu.certsUrl },
        }),
      ],
      controllers: [OrdersController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await emu?.close();
  });

  it('serves the gateway', async () => {
    const res = await get('/orders/42', emu.mintIdToken({ aud: ORDERS_AUDIENCE }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: '42', caller: GATEWAY });
  });

  it('refuses a missing, expired, stripped or wrong-audience token (401) and other callers (403)', async () => {
    expect((await get('/orders/42')).status).toBe(401);
    expect((await get('/orders/42', emu.mintIdToken({ aud: ORDERS_AUDIENCE }, { lifetimeSeconds: -120 }))).status).toBe(
      401,
    );
    expect((await get('/orders/42', emu.mintIdToken({ aud: ORDERS_AUDIENCE }, { stripSignature: true }))).status).toBe(
      401,
    );
    expect((await get('/orders/42', emu.mintIdToken({ aud: 'https://billing.run.app' }))).status).toBe(401);
    const stranger = emu.mintIdToken({ aud: ORDERS_AUDIENCE, email: 'someone@other-project.iam.gserviceaccount.com' });
    expect((await get('/orders/42', stranger)).status).toBe(403);
  });
});

describe('a caller and its callee, tokens from the emulator', () => {
  let emu: Emulator;
  let orders: INestApplication;
  let gateway: INestApplication;

  beforeAll(async () => {
    emu = await startEmulator({ serviceAccountEmail: GATEWAY });
    process.env.GCE_METADATA_HOST = emu.metadataHost; // where ServiceClient gets its ID tokens

    @Module({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: { audience: ORDERS_AUDIENCE, allowedCallers: [GATEWAY], mount: true, certsUrl: emu.certsUrl },
        }),
      ],
      controllers: [OrdersController],
    })
    class OrdersApp {}
    orders = (await Test.createTestingModule({ imports: [OrdersApp] }).compile()).createNestApplication({
      logger: false,
    });
    await orders.listen(0, '127.0.0.1');
    const ordersUrl = await orders.getUrl();

    @Module({
      // On Cloud Run the audience defaults to the URL; here the callee listens on loopback.
      imports: [
        CloudRunAuthModule.forRoot({ services: [{ name: 'orders', url: ordersUrl, audience: ORDERS_AUDIENCE }] }),
      ],
      controllers: [CheckoutController],
    })
    class GatewayApp {}
    gateway = (await Test.createTestingModule({ imports: [GatewayApp] }).compile()).createNestApplication({
      logger: false,
    });
    await gateway.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await gateway?.close();
    await orders?.close();
    await emu?.close();
  });

  it('the gateway calls orders with a signed token of its own service account', async () => {
    const res = await fetch(`${await gateway.getUrl()}/checkout/7`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ order: { id: '7', caller: GATEWAY } });
    expect(emu.requestCount('service-accounts/default/identity')).toBe(1);
  });
});
