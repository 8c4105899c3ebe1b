import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import type { INestApplication } from '@nestjs/common';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { IdTokenFetchError } from '../lib/index.js';
import { bearer, payloadOf, startTarget, type Target } from './utils/target.js';
import { clientOf, createCallerApp } from './utils/caller-app.js';

const IDENTITY = 'service-accounts/default/identity';

describe('ServiceClient against the emulator', () => {
  let emu: Emulator;
  let target: Target;
  let app: INestApplication | undefined;

  beforeEach(async () => {
    emu = await startEmulator();
    target = await startTarget();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await target.close();
    await emu.close();
  });

  it('sends a Google-shaped ID token whose audience is the target origin', async () => {
    app = await createCallerApp({ services: [{ name: 'orders', url: `${target.url}/api` }] });
    const res = await firstValueFrom(clientOf(app, 'orders').get('/orders/1'));
    expect(res.status).toBe(200);
    const token = bearer(target.requests[0]!.headers)!;
    expect(payloadOf(token)).toMatchObject({ aud: target.url, email: emu.serviceAccountEmail, email_verified: true });
    expect(target.requests[0]!.url).toBe('/api/orders/1');
  });

  it('100 concurrent cold requests make exactly one metadata call', async () => {
    app = await createCallerApp({ services: [{ name: 'orders', url: target.url }] });
    const client = clientOf(app, 'orders');
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.axiosRef.get(`/o/${i}`)));
    expect(target.requests).toHaveLength(100);
    expect(emu.requestCount(IDENTITY)).toBe(1);
    expect(new Set(target.requests.map((r) => r.headers.authorization)).size).toBe(1);
  });
});
