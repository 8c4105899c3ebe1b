import { UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { RpcException } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Caller, CloudRunAuthConfigError, CloudRunAuthGuard, CloudRunAuthModule } from '../lib/index.js';
import { resolveInboundOptions } from '../lib/inbound/inbound.options.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { mint } from './utils/tokens.js';

const AUDIENCE = 'https://events-abc123-ew.a.run.app';

class EventsGateway {
  onMessage() {}
}

/** A `ws` (or other) context for `EventsGateway.onMessage`, the message data being `data`. */
function contextOf(type: string, data: object, client: object = {}): ExecutionContext {
  const host = new ExecutionContextHost([client, data], EventsGateway, EventsGateway.prototype.onMessage);
  host.setType(type);
  return host;
}

describe('CloudRunAuthGuard in ws and unknown contexts', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(async () => {
    await emu?.close();
  });

  async function guardWith(extractToken?: (context: ExecutionContext) => string | undefined) {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: {
            audience: AUDIENCE,
            allowedCallers: [emu.serviceAccountEmail],
            certsUrl: emu.certsUrl,
            ...(extractToken ? { extractToken } : {}),
          },
        }),
      ],
      providers: [CloudRunAuthGuard],
    }).compile();
    moduleRef.useLogger(logger);
    return { guard: moduleRef.get(CloudRunAuthGuard), logger };
  }

  it.each(['ws', 'kafka-like'])(
    'refuses a %s context without inbound.extractToken (401), logging the context type',
    async (type) => {
      const { guard, logger } = await guardWith();
      const token = mint(emu, AUDIENCE);
      const context = contextOf(type, { token });
      await expect(guard.canActivate(context)).rejects.toBeInstanceOf(UnauthorizedException);
      const line = logger.rejections().join('\n');
      expect(line).toContain('reason=unsupported_context');
      expect(line).toContain(`detail="no token source for execution context type \\"${type}\\"`);
    },
  );

  it('refuses a non-gRPC rpc context without extractToken with an RpcException (status 401)', async () => {
    const { guard } = await guardWith();
    const context = contextOf('rpc', { pattern: 'x' }, { topic: 'orders' });
    const error = await Promise.resolve(guard.canActivate(context)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcException);
    expect((error as RpcException).getError()).toEqual({ status: 401, message: 'Unauthorized' });
  });

  it('verifies what inbound.extractToken returns, and @Caller() reads the identity from the message data', async () => {
    const { guard } = await guardWith((context) => context.switchToWs().getData<{ token?: string }>().token);
    const token = mint(emu, AUDIENCE);
    const data = { token };
    const context = contextOf('ws', data);
    await expect(guard.canActivate(context)).resolves.toBe(true);
    const factory = callerFactory();
    expect(factory('email', context)).toBe(emu.serviceAccountEmail);

    const bearerData = { token: `Bearer ${mint(emu, AUDIENCE)}` };
    await expect(guard.canActivate(contextOf('ws', bearerData))).resolves.toBe(true);
  });

  it('refuses, through extractToken, a missing, forged or foreign-audience token, and a throwing extractor', async () => {
    const { guard, logger } = await guardWith((context) => context.switchToWs().getData<{ token?: string }>().token);
    const forged = `${mint(emu, AUDIENCE).slice(0, -4)}AAAA`;
    for (const data of [{}, { token: forged }, { token: mint(emu, 'https://elsewhere.a.run.app') }, { token: '' }]) {
      await expect(guard.canActivate(contextOf('ws', data))).rejects.toBeInstanceOf(UnauthorizedException);
    }
    const throwing = await guardWith(() => {
      throw new Error('boom');
    });
    await expect(throwing.guard.canActivate(contextOf('ws', {}))).rejects.toBeInstanceOf(UnauthorizedException);
    expect(logger.rejections().join('\n')).not.toContain(forged);
  });

  it('rejects a non-function inbound.extractToken at boot', () => {
    const inbound = { audience: AUDIENCE, allowAnyCaller: true };
    expect(() => resolveInboundOptions({ ...inbound, extractToken: 'token' as never })).toThrow(
      new CloudRunAuthConfigError(
        'must be a function (context: ExecutionContext) => string | undefined',
        'inbound.extractToken',
      ),
    );
    const extractToken = () => undefined;
    expect(resolveInboundOptions({ ...inbound, extractToken })?.extractToken).toBe(extractToken);
  });
});

/** The factory behind `@Caller()`. */
function callerFactory(): (field: string | undefined, context: ExecutionContext) => unknown {
  class Probe {
    handler(_caller: unknown) {}
  }
  Caller()(Probe.prototype, 'handler', 0);
  const metadata = Reflect.getMetadata('__routeArguments__', Probe, 'handler') as Record<
    string,
    { factory: (field: string | undefined, context: ExecutionContext) => unknown }
  >;
  return Object.values(metadata)[0]!.factory;
}
