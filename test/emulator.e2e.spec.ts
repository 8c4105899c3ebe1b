import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'node:http';
import { IdTokenVerifier } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { payloadOf, rejection } from './utils/tokens.js';

const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://x.example';

interface Reply {
  status: number;
  body: string;
}

/** A GET with exactly this Host header (none when `undefined`), as a browser or client would send it. */
function get(emu: Emulator, path: string, host: string | undefined): Promise<Reply> {
  const { port } = new URL(emu.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        setHost: false,
        headers: { 'metadata-flavor': 'Google', ...(host === undefined ? {} : { host }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('emulator hardening', () => {
  describe('Host header (DNS rebinding)', () => {
    let emu: Emulator;
    let port: string;
    beforeAll(async () => {
      emu = await startEmulator();
      port = new URL(emu.url).port;
    });
    afterEach(() => emu.reset());
    afterAll(() => emu?.close());

    it.each(['evil.example', 'evil.example:PORT', 'metadata.google.internal.evil.example', '127.0.0.2:PORT', ''])(
      'refuses Host %j with a 403 that carries no token, and does not record it',
      async (host) => {
        for (const path of [
          IDENTITY,
          '/computeMetadata/v1/instance/service-accounts/default/token',
          '/oauth2/v3/certs',
        ]) {
          const res = await get(emu, path, host.replace('PORT', port));
          expect(res.status).toBe(403);
          expect(res.body).toBe('Forbidden: unexpected Host header\n');
        }
        expect(emu.requestCount()).toBe(0);
      },
    );

    it('does not serve a request without a Host header', async () => {
      const res = await get(emu, IDENTITY, undefined);
      expect(res.status).toBeGreaterThanOrEqual(400); // Node's own 400, or the emulator's 403
      expect(res.body).not.toMatch(/^ey/);
      expect(emu.requestCount()).toBe(0);
    });

    it.each([
      'metadata.google.internal',
      'metadata.google.internal:PORT',
      'Metadata.Google.Internal',
      'metadata.google.internal.',
      'metadata',
      'metadata:PORT',
      '169.254.169.254',
      '127.0.0.1:PORT',
      'localhost:PORT',
      '[::1]:PORT',
    ])('serves tokens to Host %j', async (host) => {
      const res = await get(emu, IDENTITY, host.replace('PORT', port));
      expect(res.status).toBe(200);
      expect(payloadOf(res.body)).toMatchObject({ aud: 'https://x.example' });
      expect(emu.requestCount('service-accounts/default/identity')).toBe(1);
    });
  });

  describe('recorded requests', () => {
    let emu: Emulator | undefined;
    afterEach(async () => {
      await emu?.close();
      emu = undefined;
    });

    it('keeps only the most recent maxRecordedRequests, oldest first', async () => {
      emu = await startEmulator({ maxRecordedRequests: 3 });
      for (let i = 0; i < 5; i++)
        expect((await get(emu, `/oauth2/v3/certs?n=${i}`, emu.metadataHost)).status).toBe(200);
      expect(emu.requestCount()).toBe(3);
      expect(emu.requests().map((r) => r.query.n)).toEqual(['2', '3', '4']);
    });

    it('records nothing with maxRecordedRequests: 0, and still serves', async () => {
      emu = await startEmulator({ maxRecordedRequests: 0 });
      expect((await get(emu, IDENTITY, emu.metadataHost)).status).toBe(200);
      expect(emu.requestCount()).toBe(0);
    });

    it.each([-1, 1.5, Number.NaN, Infinity])('refuses maxRecordedRequests %s', async (value) => {
      await expect(startEmulator({ maxRecordedRequests: value })).rejects.toThrow(RangeError);
    });
  });
});

describe('emulator default record bound', () => {
  it('keeps the most recent 10 000 requests by default', async () => {
    const emu = await startEmulator();
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 32 });
      const once = (i: number) =>
        new Promise<void>((resolve, reject) => {
          const req = request(`${emu.certsUrl}?n=${i}`, { agent }, (res) => res.resume().on('end', resolve));
          req.on('error', reject);
          req.end();
        });
      for (let i = 0; i < 10_005; i += 500)
        await Promise.all(Array.from({ length: Math.min(500, 10_005 - i) }, (_, j) => once(i + j)));
      agent.destroy();
      expect(emu.requestCount()).toBe(10_000);
      // The 5 dropped are among the first batch (in flight together, they arrive in any order).
      const kept = new Set(emu.requests().map((r) => Number(r.query.n)));
      const dropped = Array.from({ length: 10_005 }, (_, i) => i).filter((i) => !kept.has(i));
      expect(dropped).toHaveLength(5);
      expect(dropped.every((i) => i < 500)).toBe(true);
    } finally {
      await emu.close();
    }
  });
});

describe('emulator signing keys', () => {
  const modulusOf = async (emu: Emulator) => {
    const { keys } = (await (await fetch(emu.certsUrl)).json()) as { keys: { kid: string; n: string }[] };
    return keys.map(({ kid, n }) => ({ kid, n }));
  };
  const audience = 'https://x.example';

  it('reuses a closed emulator’s RSA pair under a new kid; its tokens are refused by the next emulator', async () => {
    const first = await startEmulator();
    const [before] = await modulusOf(first);
    const old = first.mintIdToken({ aud: audience });
    await first.close();

    const next = await startEmulator();
    try {
      const [after] = await modulusOf(next);
      expect(after!.n).toBe(before!.n);
      expect(after!.kid).not.toBe(before!.kid);
      const verifier = new IdTokenVerifier({ audience, certsUrl: next.certsUrl });
      expect((await rejection(verifier.verify(old))).reason).toBe('unknown_kid');
      await expect(verifier.verify(next.mintIdToken({ aud: audience }))).resolves.toMatchObject({ audience });
    } finally {
      await next.close();
    }
  });

  it('never gives emulators that run at the same time the same key, rotated keys included', async () => {
    const a = await startEmulator();
    a.rotateKeys();
    const b = await startEmulator();
    const c = await startEmulator();
    try {
      const moduli = (await Promise.all([a, b, c].map(modulusOf))).flat().map(({ n }) => n);
      expect(moduli).toHaveLength(4);
      expect(new Set(moduli).size).toBe(4);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
