import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ForbiddenException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { grpcStatusFor, readGrpcTokenHeader } from '../lib/inbound/guard/grpc-metadata.reader.js';
import { CALLER_PROTO, startGuardedGrpcApp, type CallerReply as Reply, type GuardedGrpcApp } from './utils/grpc-app.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { attackerKey, claims, mint, signRs256 } from './utils/tokens.js';

const AUDIENCE = 'https://grpc-orders-abc123-ew.a.run.app';
const COOLDOWN_MS = 100;

type Unary = (req: object, md: Metadata, cb: (err: ServiceError | null, res?: Reply) => void) => void;

describe('CloudRunAuthGuard on a gRPC microservice (@grpc/grpc-js)', () => {
  let emu: Emulator;
  let server: GuardedGrpcApp;
  let client: { WhoAmI: Unary; Special: Unary; close(): void };
  const logger = new CapturingLogger();

  const call = (method: 'WhoAmI' | 'Special', headers: [string, string][]) =>
    new Promise<{ reply?: Reply; error?: ServiceError }>((resolve) => {
      const md = new Metadata();
      for (const [k, v] of headers) md.add(k, v);
      client[method].call(client, { note: 'hi' }, md, (error, reply) => resolve(error ? { error } : { reply: reply! }));
    });

  beforeAll(async () => {
    emu = await startEmulator();
    server = await startGuardedGrpcApp(
      {
        audience: AUDIENCE,
        allowedCallers: [emu.serviceAccountEmail],
        certsUrl: emu.certsUrl,
        keyRefetchCooldownMs: COOLDOWN_MS,
      },
      { logger },
    );
    const pkg = loadPackageDefinition(loadSync(CALLER_PROTO)) as unknown as {
      caller: { CallerService: new (url: string, creds: unknown) => typeof client };
    };
    client = new pkg.caller.CallerService(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await server?.app.close();
    await emu?.close();
  });

  // First: nothing is cached yet.
  it('answers UNAVAILABLE when the signing keys cannot be fetched', async () => {
    emu.fail('/oauth2/v3/certs', { mode: 'error', times: 1 });
    const token = mint(emu, AUDIENCE);
    const { error } = await call('WhoAmI', [['authorization', `Bearer ${token}`]]);
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.code).toBe(14);
    expect(error?.details).not.toContain(token);
    await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 50));
  });

  it('accepts a valid token in authorization metadata and exposes the caller through @Caller()', async () => {
    const token = mint(emu, AUDIENCE);
    const { reply, error } = await call('WhoAmI', [['authorization', `Bearer ${token}`]]);
    expect(error).toBeUndefined();
    expect(reply).toEqual({ email: emu.serviceAccountEmail, note: 'hi' });
  });

  it('prefers x-serverless-authorization over authorization', async () => {
    const token = mint(emu, AUDIENCE);
    const { reply } = await call('WhoAmI', [
      ['x-serverless-authorization', `Bearer ${token}`],
      ['authorization', 'Bearer not-a-jwt'],
    ]);
    expect(reply?.email).toBe(emu.serviceAccountEmail);
  });

  it('refuses no token, a forged token and a repeated header with UNAUTHENTICATED, never echoing the token', async () => {
    const token = mint(emu, AUDIENCE);
    const forged = signRs256(
      attackerKey.privateKey,
      { alg: 'RS256', typ: 'JWT', kid: emu.currentKid },
      claims(emu, AUDIENCE),
    );
    const cases: [string, [string, string][]][] = [
      ['none', []],
      ['forged', [['authorization', `Bearer ${forged}`]]],
      ['wrong audience', [['authorization', `Bearer ${mint(emu, 'https://elsewhere.a.run.app')}`]]],
      // grpc-js refuses to send a repeated authorization; a repeated custom key arrives joined.
      [
        'repeated',
        [
          ['x-serverless-authorization', `Bearer ${token}`],
          ['x-serverless-authorization', `Bearer ${token}`],
        ],
      ],
    ];
    for (const [name, headers] of cases) {
      const { error } = await call('WhoAmI', headers);
      expect(error?.code, `${name}: ${error?.details}`).toBe(status.UNAUTHENTICATED);
      expect(error?.code, name).toBe(16);
      expect(error?.details, name).not.toContain(forged);
      expect(error?.details, name).not.toContain(token);
    }
    const logged = logger.lines.map((l) => l.text).join('\n');
    expect(logged).toContain('reason=missing_token');
    // On the wire, repeated values arrive joined with ", ": not a Bearer value.
    expect(logged).toContain('reason=malformed_header');
    expect(logged).not.toContain(forged);
  });

  it('refuses a valid caller not in the allow-list with PERMISSION_DENIED', async () => {
    const token = mint(emu, AUDIENCE);
    const { error } = await call('Special', [['authorization', `Bearer ${token}`]]);
    expect(error?.code).toBe(status.PERMISSION_DENIED);
    expect(error?.code).toBe(7);
    expect(error?.details).not.toContain(token);
  });
});

describe('readGrpcTokenHeader', () => {
  it('refuses repeated values, binary values and oversized values; prefers x-serverless-authorization', () => {
    const md = (entries: [string, string | Buffer][]) => {
      const m = new Metadata();
      for (const [k, v] of entries) m.add(k, v);
      return m;
    };
    expect(readGrpcTokenHeader(md([]), 8192)).toEqual({ failure: 'missing_token' });
    expect(
      readGrpcTokenHeader(
        md([
          ['x-serverless-authorization', 'Bearer a'],
          ['x-serverless-authorization', 'Bearer b'],
        ]),
        8192,
      ),
    ).toEqual({ failure: 'duplicate_header', header: 'x-serverless-authorization' });
    expect(readGrpcTokenHeader(md([['authorization-bin', Buffer.from('x')]]), 8192)).toEqual({
      failure: 'missing_token',
    });
    expect(readGrpcTokenHeader(md([['authorization', `Bearer ${'a'.repeat(2000)}`]]), 1024)).toEqual({
      failure: 'header_too_large',
      header: 'authorization',
    });
    expect(
      readGrpcTokenHeader(
        md([
          ['authorization', 'Bearer a'],
          ['x-serverless-authorization', 'Bearer b'],
        ]),
        8192,
      ),
    ).toEqual({ value: 'Bearer b', header: 'x-serverless-authorization' });
  });
});

describe('grpcStatusFor', () => {
  it('maps 401 to UNAUTHENTICATED, 403 to PERMISSION_DENIED, 503 to UNAVAILABLE', () => {
    expect(grpcStatusFor(new UnauthorizedException())).toBe(status.UNAUTHENTICATED);
    expect(grpcStatusFor(new ForbiddenException())).toBe(status.PERMISSION_DENIED);
    expect(grpcStatusFor(new ServiceUnavailableException())).toBe(status.UNAVAILABLE);
    expect(grpcStatusFor(new Error('x'))).toBe(status.UNKNOWN);
  });
});
