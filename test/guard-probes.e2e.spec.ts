import { Controller, Get, type INestApplication, type Type } from '@nestjs/common';
import { HealthCheck } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudRunAuthModule, SkipCloudRunAuth } from '../lib/index.js';
import { CapturingLogger } from './utils/guarded-app.js';

/**
 * Health probes behind a mounted guard: Cloud Run's probes send no token, so a probe route the
 * guard covers answers 401 and the revision never becomes ready. The boot says which routes look
 * like probes, and a refusal of one says how to exempt it.
 */

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const OPTIONS = {
  inbound: { audience: AUDIENCE, allowAnyCaller: true, certsUrl: 'http://127.0.0.1:9/certs', mount: true },
};

@Controller('health')
class HealthController {
  @Get()
  check() {
    return { status: 'ok' };
  }

  @Get('ready')
  ready() {
    return { status: 'ok' };
  }
}

@Controller('health')
@SkipCloudRunAuth()
class ExemptHealthController {
  @Get()
  check() {
    return { status: 'ok' };
  }
}

/** terminus' @HealthCheck() on a path that does not say "health". */
@Controller('status')
class TerminusController {
  @Get()
  @HealthCheck()
  check() {
    return { status: 'ok' };
  }
}

@Controller('orders')
class OrdersController {
  @Get(':id')
  get() {
    return {};
  }
}

describe('health probes behind inbound.mount', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(controllers: Type[], options: object = OPTIONS) {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [CloudRunAuthModule.forRoot(options as never)],
      controllers,
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    const warnings = () => logger.lines.filter((l) => l.level === 'warn').map((l) => l.text);
    return { url, logger, warnings };
  }

  it('warns at boot about each guarded route that looks like a probe, by path or by @HealthCheck()', async () => {
    const { warnings } = await start([HealthController, TerminusController, OrdersController]);
    const boot = warnings().filter((w) => w.includes('inbound.mount guards'));
    expect(boot).toHaveLength(1);
    expect(boot[0]).toContain('GET /health (HealthController.check)');
    expect(boot[0]).toContain('GET /health/ready (HealthController.ready)');
    expect(boot[0]).toContain('GET /status (TerminusController.check)');
    expect(boot[0]).not.toContain('OrdersController');
    expect(boot[0]).toContain('@SkipCloudRunAuth()');
  });

  it('says nothing when the probes are exempt, or without mount', async () => {
    expect((await start([ExemptHealthController, OrdersController])).warnings()).toEqual([]);
    await app!.close();
    const unmounted = { inbound: { ...OPTIONS.inbound, mount: false } };
    expect((await start([HealthController], unmounted)).warnings()).toEqual([]);
  });

  it('a token-less request to a probe route is refused (401) with a log line that says how to exempt it', async () => {
    const { url, logger } = await start([HealthController, OrdersController]);
    expect((await fetch(`${url}/health`)).status).toBe(401);
    const line = logger.rejections().at(-1)!;
    expect(line).toContain('reason=missing_token');
    expect(line).toContain('exempt the route with @SkipCloudRunAuth()');
    // Other routes keep the usual advice.
    expect((await fetch(`${url}/orders/1`)).status).toBe(401);
    const lines = logger.lines.map((l) => l.text).filter((t) => t.includes('OrdersController.get'));
    expect(lines.at(-1)).toContain('the caller sent no token');
  });
});
