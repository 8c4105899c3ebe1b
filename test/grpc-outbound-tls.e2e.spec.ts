import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import type { TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { createSelfSignedCertificate } from '../lib/testing/x509.js';
import { restoreEnvAfterEach } from './utils/env.js';
import { freePort, startGrpcCaller, startGuardedGrpcApp, type GuardedGrpcApp } from './utils/grpc-app.js';

// grpc-js reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once, when it loads: set before anything imports it.
// (This file has modules of its own: OWN_MODULES in vitest.config.ts.) The file itself is read at the first TLS channel.
const ROOTS = await vi.hoisted(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const path = join(mkdtempSync(join(tmpdir(), 'grpc-roots-')), 'roots.pem');
  process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = path;
  return path;
});

const IDENTITY = 'service-accounts/default/identity';

describe('gRPC over TLS: a Nest ClientGrpc with the injected credentials of an https service', () => {
  let emu: Emulator;
  let server: GuardedGrpcApp;
  let caller: TestingModule | undefined;
  let url: string;

  restoreEnvAfterEach(['GCE_METADATA_HOST']);
  beforeAll(async () => {
    emu = await startEmulator();
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Date.now();
    const certificate = createSelfSignedCertificate(publicKey, privateKey, {
      commonName: 'localhost',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
      dnsNames: ['localhost'],
    });
    // The only root the client trusts: the server's self-signed certificate.
    writeFileSync(ROOTS, certificate);
    const port = await freePort();
    url = `https://localhost:${port}`;
    const keyPair = {
      cert_chain: Buffer.from(certificate),
      private_key: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    };
    server = await startGuardedGrpcApp(
      { audience: url, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl },
      { port, credentials: ServerCredentials.createSsl(null, [keyPair], false) },
    );
  });
  afterAll(async () => {
    await caller?.close();
    await server?.app.close();
    await emu?.close();
  });

  it('calls over TLS with an ID token whose audience is the https origin; the caller reaches the handler', async () => {
    process.env.GCE_METADATA_HOST = emu.metadataHost;
    const started = await startGrpcCaller({ url }, `localhost:${server.address.split(':')[1]}`);
    caller = started.moduleRef;
    const replies = await Promise.all([started.api.call('whoAmI'), started.api.call('whoAmI')]);
    expect(replies).toEqual([
      { email: emu.serviceAccountEmail, note: 'hi' },
      { email: emu.serviceAccountEmail, note: 'hi' },
    ]);
    expect(emu.requests(IDENTITY).map((request) => request.query.audience)).toEqual([url]);
  });
});
