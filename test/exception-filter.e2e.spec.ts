import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Controller,
  Get,
  NotFoundException,
  Param,
  UseFilters,
  type INestApplication,
  type Provider,
} from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import {
  CloudRunAuthConfigError,
  CloudRunAuthExceptionFilter,
  CloudRunAuthModule,
  IdTokenFetchError,
  InjectServiceClient,
  ServiceClient,
} from '../lib/index.js';
import type { Emulator } from '../lib/testing/index.js';
import { CapturingLogger, PLATFORMS, type Platform } from './utils/guarded-app.js';
import { bearer, type Target } from './utils/target.js';
import { useLoopbackStack } from './utils/loopback-stack.js';

const IDENTITY = '/computeMetadata/v1/instance/service-accounts/default/identity';
/** Small, so that a token failure is reached in well under a second. */
const TOKEN_CACHE = { timeoutMs: 100, deadlineMs: 300, initialBackoffMs: 10, maxBackoffMs: 50 };

/** A caller's routes: one proxies to the `orders` service, the others fail in their own ways. */
@Controller('orders')
class OrdersController {
  constructor(@InjectServiceClient('orders') private readonly orders: ServiceClient) {}

  @Get('missing')
  missing() {
    throw new NotFoundException('no such order');
  }

  @Get('broken')
  broken() {
    throw new Error('a bug');
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const { data } = await firstValueFrom(this.orders.get(`/orders/${encodeURIComponent(id)}`));
    return data;
  }
}

/** The same routes with the filter bound to the controller only. */
@Controller('filtered')
@UseFilters(CloudRunAuthExceptionFilter)
class FilteredOrdersController extends OrdersController {}

/** How the application installs the filter; `none` is today's behaviour without it. */
type Install = 'APP_FILTER' | 'useGlobalFilters' | '@UseFilters' | 'none';
const INSTALLS: Install[] = ['APP_FILTER', 'useGlobalFilters', '@UseFilters'];

interface CallerApp {
  app: INestApplication;
  logger: CapturingLogger;
  /** GET on the filtered routes (for `none`, on unfiltered ones); the body is parsed as JSON. */
  get(path: string): Promise<{ status: number; contentType: string | null; text: string; body: unknown }>;
}

let emu: Emulator;
let target: Target;
let running: INestApplication | undefined;

useLoopbackStack((stack) => ({ emu, target } = stack));
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A real caller application on 127.0.0.1 whose `orders` client calls `target`. */
async function startCaller(platform: Platform, install: Install): Promise<CallerApp> {
  const logger = new CapturingLogger();
  const providers: Provider[] =
    install === 'APP_FILTER' ? [{ provide: APP_FILTER, useClass: CloudRunAuthExceptionFilter }] : [];
  const moduleRef = await Test.createTestingModule({
    imports: [CloudRunAuthModule.forRoot({ services: [{ name: 'orders', url: target.url }], tokenCache: TOKEN_CACHE })],
    controllers: [OrdersController, FilteredOrdersController],
    providers,
  }).compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger })
      : moduleRef.createNestApplication({ logger });
  if (install === 'useGlobalFilters') app.useGlobalFilters(new CloudRunAuthExceptionFilter(app.get(HttpAdapterHost)));
  await app.listen(0, '127.0.0.1');
  running = app;
  const { port } = app.getHttpServer().address() as AddressInfo;
  const prefix = `http://127.0.0.1:${port}/${install === '@UseFilters' ? 'filtered' : 'orders'}`;
  return {
    app,
    logger,
    async get(path) {
      const response = await fetch(prefix + path);
      const text = await response.text();
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        text,
        body: JSON.parse(text),
      };
    },
  };
}

/** A target that refuses every token, as one whose audience or invoker binding is wrong. */
function rejectAllTokens() {
  target.setHandler((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end('{"message":"Unauthorized"}');
    return true;
  });
}

describe.each(PLATFORMS)('CloudRunAuthExceptionFilter on %s', (platform) => {
  describe.each(INSTALLS)('installed with %s', (install) => {
    it('answers 503 with a generic body when no ID token can be had', async () => {
      emu.fail(IDENTITY, { mode: 'error', times: Infinity });
      const caller = await startCaller(platform, install);
      const reply = await caller.get('/42');
      expect(reply.status).toBe(503);
      expect(reply.contentType).toMatch(/^application\/json/);
      expect(reply.body).toEqual({
        statusCode: 503,
        message: 'An upstream service could not be authenticated',
        error: 'Service Unavailable',
      });
      // Nothing of the error's message: no audience, no metadata server address.
      expect(reply.text).not.toContain('127.0.0.1');
      expect(reply.text).not.toContain('ID token');
      expect(target.requests).toHaveLength(0);
      expect(emu.requestCount(IDENTITY)).toBeGreaterThan(0);
      // The cache's line about the fetch (service, source, reason, what to check), then the filter's.
      const warnings = caller.logger.lines.filter((line) => line.level === 'warn').map((line) => line.text);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^ID-token fetch failed: service=orders audience=\S+ source=metadata reason=http_5xx check=/,
        ),
        expect.stringContaining(
          `Answered 503 for IdTokenFetchError: audience=${target.url} error="Could not obtain an ID token`,
        ),
      ]);
      expect(caller.logger.lines.filter((line) => line.level === 'error')).toEqual([]);
    });

    it('answers 502 with a generic body when the target rejects the token, and leaks no token', async () => {
      rejectAllTokens();
      const caller = await startCaller(platform, install);
      const reply = await caller.get('/42');
      expect(reply.status).toBe(502);
      expect(reply.body).toEqual({
        statusCode: 502,
        message: "An upstream service rejected this service's authentication",
        error: 'Bad Gateway',
      });
      // The token was sent (then replayed once with a fresh one), and is nowhere in the answer or the logs.
      expect(target.requests).toHaveLength(2);
      const tokens = target.requests.map((request) => bearer(request.headers)!);
      for (const token of tokens) expect(token).toMatch(/^ey/);
      expect(reply.text).not.toContain(target.url);
      const logged = JSON.stringify(caller.logger.lines);
      for (const token of tokens) {
        expect(reply.text).not.toContain(token);
        expect(logged).not.toContain(token);
      }
      const warnings = caller.logger.lines.filter((line) => line.level === 'warn');
      expect(warnings.map((line) => line.text)).toEqual([
        expect.stringContaining(
          `Answered 502 for TargetRejectedTokenError: service=orders audience=${target.url} error="orders rejected the ID token for audience ${target.url}`,
        ),
      ]);
    });

    it('leaves other exceptions alone: 404 stays 404, a bug stays 500, success stays 200', async () => {
      const caller = await startCaller(platform, install);
      const missing = await caller.get('/missing');
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ statusCode: 404, message: 'no such order', error: 'Not Found' });
      const broken = await caller.get('/broken');
      expect(broken.status).toBe(500);
      expect(broken.body).toEqual({ statusCode: 500, message: 'Internal server error' });
      const ok = await caller.get('/42');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ ok: true, path: '/orders/42' });
      expect(caller.logger.lines.filter((line) => line.level === 'warn')).toEqual([]);
    });
  });

  it('without the filter, the same token failures are 500s (what it changes)', async () => {
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    const caller = await startCaller(platform, 'none');
    expect((await caller.get('/42')).status).toBe(500);
    rejectAllTokens();
    emu.reset();
    expect((await caller.get('/43')).status).toBe(500);
  });

  it('@UseFilters on one controller leaves the routes of another unmapped', async () => {
    emu.fail(IDENTITY, { mode: 'error', times: Infinity });
    const caller = await startCaller(platform, '@UseFilters');
    expect((await caller.get('/42')).status).toBe(503);
    const url = `${(await caller.app.getUrl()).replace('[::1]', '127.0.0.1')}/orders/42`;
    expect((await fetch(url)).status).toBe(500);
  });
});

describe('CloudRunAuthExceptionFilter outside Nest', () => {
  it('refuses to be created without the HttpAdapterHost, saying how to pass it', () => {
    const create = () => new (CloudRunAuthExceptionFilter as new (host?: unknown) => unknown)();
    expect(create).toThrow(CloudRunAuthConfigError);
    expect(create).toThrow(/app\.get\(HttpAdapterHost\)/);
  });

  it('throws the error on unchanged in a context that is not HTTP (RPC, WebSockets, GraphQL)', () => {
    const filter = new CloudRunAuthExceptionFilter(new HttpAdapterHost());
    const error = new IdTokenFetchError('no token', 'https://orders.example', true);
    const host = new ExecutionContextHost([{}, {}]);
    host.setType('rpc');
    expect(() => filter.catch(error, host)).toThrow(error);
  });
});
