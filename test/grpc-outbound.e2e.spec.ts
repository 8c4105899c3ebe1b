import { credentials, loadPackageDefinition, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGrpcCredentials, createIdTokenCallCredentials } from '../lib/grpc/index.js';
import {
  GoogleIdTokenProvider,
  IdTokenCache,
  IdTokenProvider,
  type CloudRunAuthModuleOptions,
  type ServiceDefinition,
} from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { restoreEnvAfterEach } from './utils/env.js';
import {
  CALLER_PROTO,
  freePort,
  OTHER_CALLER,
  startGrpcCaller,
  startGuardedGrpcApp,
  type CallerApi,
  type CallerReply,
  type GuardedGrpcApp,
} from './utils/grpc-app.js';
import { attackerKey, claims, signRs256 } from './utils/tokens.js';

const IDENTITY = 'service-accounts/default/identity';

/** A signed token the JWKS does not vouch for: the attacker's key, the emulator's kid and claims. */
class ForgingProvider extends IdTokenProvider {
  constructor(private readonly emu: Emulator) {
    super();
  }
  async getIdToken(audience: string): Promise<string> {
    const header = { alg: 'RS256', typ: 'JWT', kid: this.emu.currentKid };
    return signRs256(attackerKey.privateKey, header, claims(this.emu, audience));
  }
}

type Unary = (request: object, callback: (error: ServiceError | null, reply?: CallerReply) => void) => void;
type PlainClient = { WhoAmI: Unary; close(): void };
const { caller } = loadPackageDefinition(loadSync(CALLER_PROTO)) as unknown as {
  caller: { CallerService: new (target: string, credentials: ChannelCredentials) => PlainClient };
};

/** One `WhoAmI` through a plain grpc-js client. */
function plainWhoAmI(target: string, channelCredentials: ChannelCredentials): Promise<CallerReply> {
  const client = new caller.CallerService(target, channelCredentials);
  return new Promise<CallerReply>((resolve, reject) =>
    client.WhoAmI({ note: 'plain' }, (error, reply) => (error ? reject(error) : resolve(reply!))),
  ).finally(() => client.close());
}

describe('gRPC call credentials: a Nest ClientGrpc calls a guarded Nest gRPC microservice', () => {
  let emu: Emulator;
  let server: GuardedGrpcApp;
  let callers: TestingModule[] = [];

  async function startCaller(
    service: Partial<ServiceDefinition> = {},
    options: Omit<CloudRunAuthModuleOptions, 'services'> & { target?: string } = {},
  ): Promise<CallerApi> {
    const { target = server.address, ...moduleOptions } = options;
    const started = await startGrpcCaller({ url: `http://${server.address}`, ...service }, target, moduleOptions);
    callers.push(started.moduleRef);
    return started.api;
  }

  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable('the call succeeded'),
      (error: ServiceError) => error,
    );

  restoreEnvAfterEach(['GCE_METADATA_HOST']);
  beforeAll(async () => {
    emu = await startEmulator();
    const port = await freePort();
    // The audience a caller sends by default: the origin of the service's url.
    const inbound = {
      audience: `http://127.0.0.1:${port}`,
      allowedCallers: [emu.serviceAccountEmail],
      certsUrl: emu.certsUrl,
    };
    server = await startGuardedGrpcApp(inbound, { port });
  });
  afterAll(async () => {
    await server?.app.close();
    await emu?.close();
  });
  beforeEach(() => {
    emu.reset();
    process.env.GCE_METADATA_HOST = emu.metadataHost;
  });
  afterEach(async () => {
    await Promise.all(callers.map((moduleRef) => moduleRef.close()));
    callers = [];
  });

  it('a valid token: OK, with the caller in the handler; audience = the origin of url', async () => {
    const api = await startCaller();
    expect(await api.call('whoAmI')).toEqual({ email: emu.serviceAccountEmail, note: 'hi' });
    const [fetch] = emu.requests(IDENTITY);
    expect(fetch?.query.audience).toBe(`http://${server.address}`);
  });

  it('100 concurrent calls on a cold cache: all OK, one metadata fetch', async () => {
    const api = await startCaller();
    const replies = await Promise.all(Array.from({ length: 100 }, () => api.call('whoAmI')));
    expect(replies.every((reply) => reply.email === emu.serviceAccountEmail)).toBe(true);
    expect(emu.requestCount(IDENTITY)).toBe(1);
  });

  it('a token signed by another key: UNAUTHENTICATED, and the token is not in the details', async () => {
    const api = await startCaller({}, { tokenProvider: new ForgingProvider(emu) });
    const error = await failure(api.call('whoAmI'));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).not.toMatch(/eyJ/);
  });

  it('a valid caller outside the allow-list: PERMISSION_DENIED', async () => {
    expect(OTHER_CALLER).not.toBe(emu.serviceAccountEmail);
    const api = await startCaller();
    expect((await failure(api.call('special'))).code).toBe(status.PERMISSION_DENIED);
  });

  it('tokenHeader x-serverless-authorization puts the token there, and only there', async () => {
    const api = await startCaller({ tokenHeader: 'x-serverless-authorization' });
    expect(await api.call('tokenHeaders')).toEqual({
      email: emu.serviceAccountEmail,
      note: 'x-serverless-authorization',
    });
  });

  it('no token to be had: UNAVAILABLE, naming the service and the audience', async () => {
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    const api = await startCaller({}, { tokenCache: { deadlineMs: 300 } });
    const error = await failure(api.call('whoAmI'));
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toContain('services[inventory]: no ID token');
    expect(error.details).toContain(`audience http://${server.address}`);
  });

  it('a client aimed at another host than url: UNAUTHENTICATED before any token is fetched', async () => {
    const api = await startCaller({}, { target: `localhost:${server.address.split(':')[1]}` });
    const error = await failure(api.call('whoAmI'));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toContain('this call goes to localhost, not to 127.0.0.1');
    expect(emu.requestCount(IDENTITY)).toBe(0);
  });

  it('authenticate: false sends no token (the guard refuses the call) and fetches none', async () => {
    const api = await startCaller({ authenticate: false });
    expect((await failure(api.call('whoAmI'))).code).toBe(status.UNAUTHENTICATED);
    expect(emu.requestCount(IDENTITY)).toBe(0);
  });

  it('plain grpc-js: createGrpcCredentials with an IdTokenCache of its own', async () => {
    const cache = new IdTokenCache(new GoogleIdTokenProvider());
    const channelCredentials = createGrpcCredentials(cache, { url: `http://${server.address}` });
    expect(await plainWhoAmI(server.address, channelCredentials)).toEqual({
      email: emu.serviceAccountEmail,
      note: 'plain',
    });
    cache.onApplicationShutdown();
  });

  it('an https url means TLS: a plain-text server never gets the call, and no token is fetched', async () => {
    const cache = new IdTokenCache(new GoogleIdTokenProvider());
    const target = `localhost:${server.address.split(':')[1]}`;
    const channelCredentials = createGrpcCredentials(cache, { url: `https://${target}` });
    const error = (await plainWhoAmI(target, channelCredentials).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(emu.requestCount(IDENTITY)).toBe(0);
    cache.onApplicationShutdown();
  });

  it('createIdTokenCallCredentials composes with channel credentials of your own', async () => {
    const cache = new IdTokenCache(new GoogleIdTokenProvider());
    const callCredentials = createIdTokenCallCredentials(cache, { url: `http://${server.address}` });
    // grpc-js keeps call credentials off plain-text channels of its own making.
    expect(() => credentials.createInsecure().compose(callCredentials)).toThrow('Cannot compose insecure credentials');
    expect(credentials.createSsl().compose(callCredentials)._isSecure()).toBe(true);
    cache.onApplicationShutdown();
  });
});
