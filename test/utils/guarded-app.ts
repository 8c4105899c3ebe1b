import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  UseGuards,
  type INestApplication,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  AllowedCallers,
  Caller,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  SkipCloudRunAuth,
  type CallerIdentity,
  type CloudRunAuthModuleAsyncOptions,
  type CloudRunAuthModuleOptions,
} from '../../lib/index.js';
import { startEmulator, type Emulator } from '../../lib/testing/index.js';

export type Platform = 'express' | 'fastify';
export const PLATFORMS: Platform[] = ['express', 'fastify'];

export const TEAM_WILDCARD = '*@team-project.iam.gserviceaccount.com';
export const TEAM_ADMIN = 'Admin@Other-Project.iam.gserviceaccount.com';
export const SPECIAL_CALLER = 'special@other-project.iam.gserviceaccount.com';

@Controller('guarded')
@UseGuards(CloudRunAuthGuard)
class GuardedController {
  @Get('me')
  me(@Caller() caller: CallerIdentity) {
    return caller;
  }

  @Get('email')
  email(@Caller('email') email: string) {
    return { email };
  }

  @Get('special')
  @AllowedCallers(SPECIAL_CALLER)
  special(@Caller('email') email: string) {
    return { email };
  }
}

@Controller('team')
@UseGuards(CloudRunAuthGuard)
@AllowedCallers(TEAM_WILDCARD)
class TeamController {
  @Get()
  team(@Caller('email') email: string) {
    return { email };
  }

  @Get('admin')
  @AllowedCallers(TEAM_ADMIN)
  admin(@Caller('email') email: string) {
    return { email };
  }
}

/** Unguarded unless `mount: true`. */
@Controller('open')
class OpenController {
  @Get()
  open() {
    return { ok: true };
  }

  @Get('health')
  @SkipCloudRunAuth()
  health() {
    return { ok: true };
  }

  /** Misuse: @Caller() where the guard did not run. */
  @Get('whoami')
  whoami(@Caller('email') email: string) {
    return { email };
  }
}

@Controller('public')
@SkipCloudRunAuth()
class PublicController {
  @Get()
  open() {
    return { ok: true };
  }

  @Get('private')
  @SkipCloudRunAuth(false)
  private(@Caller('email') email: string) {
    return { email };
  }
}

/** Skipped as a whole; routes that name their callers are guarded again unless they skip themselves. */
@Controller('skipped')
@UseGuards(CloudRunAuthGuard)
@SkipCloudRunAuth()
class SkippedController {
  @Get()
  open() {
    return { ok: true };
  }

  @Get('special')
  @AllowedCallers(SPECIAL_CALLER)
  special(@Caller('email') email: string) {
    return { email };
  }

  @Get('special-but-skipped')
  @AllowedCallers(SPECIAL_CALLER)
  @SkipCloudRunAuth(true)
  specialButSkipped() {
    return { ok: true };
  }
}

/** `@SkipCloudRunAuth()` and `@AllowedCallers()` both on the class: skipped. */
@Controller('skipped-team')
@UseGuards(CloudRunAuthGuard)
@SkipCloudRunAuth()
@AllowedCallers(TEAM_WILDCARD)
class SkippedTeamController {
  @Get()
  open() {
    return { ok: true };
  }
}

/** Targets of Pub/Sub push, Cloud Tasks and Cloud Scheduler. */
@Controller('push')
@UseGuards(CloudRunAuthGuard)
class PushController {
  @Post('pubsub')
  @HttpCode(204)
  pubsub() {}

  @Post('tasks/handle')
  @HttpCode(200)
  task(@Caller() caller: CallerIdentity) {
    return { email: caller.email, audience: caller.audience };
  }

  @Post('scheduler/tick')
  @HttpCode(200)
  tick(@Caller('audience') audience: string) {
    return { audience };
  }
}

@Controller('feature')
@UseGuards(CloudRunAuthGuard)
class FeatureController {
  @Get()
  feature(@Caller('email') email: string) {
    return { email };
  }
}

/** A separate module: the guard must work there too (the auth module is global). */
@Module({ controllers: [FeatureController] })
class FeatureModule {}

/** Every line logged through Nest, for assertions that tokens never reach a log. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; text: string }[] = [];
  private push(level: string, message: unknown, rest: unknown[]) {
    const text = (p: unknown) =>
      typeof p === 'string' ? p : p instanceof Error ? (p.stack ?? p.message) : JSON.stringify(p);
    this.lines.push({ level, text: [message, ...rest].map(text).join(' ') });
  }
  log(message: unknown, ...rest: unknown[]) {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.push('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.push('fatal', message, rest);
  }
  /** Lines mentioning a rejection reason, in order. */
  rejections(): string[] {
    return this.lines.filter((l) => l.text.includes('reason=')).map((l) => l.text);
  }
}

export interface GuardedApp {
  app: INestApplication;
  url: string;
  logger: CapturingLogger;
  /** GET/POST with the given headers; the body is read as text. */
  call(path: string, headers?: Record<string, string>, method?: string): Promise<Reply>;
  /** A request whose headers are sent exactly as listed (repeats included). */
  raw(path: string, rawHeaders: string[]): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  body: string;
  wwwAuthenticate: string | null;
}

export const ALL_CONTROLLERS: Type[] = [
  GuardedController,
  TeamController,
  OpenController,
  PublicController,
  SkippedController,
  SkippedTeamController,
  PushController,
];

/**
 * Compiles the module (throws on configuration errors) without starting a server;
 * the guarded feature module is included with the default controllers only.
 */
export async function compileGuardedModule(
  options: CloudRunAuthModuleOptions | { async: CloudRunAuthModuleAsyncOptions },
  controllers: Type[] = ALL_CONTROLLERS,
) {
  const auth =
    'async' in options ? CloudRunAuthModule.forRootAsync(options.async) : CloudRunAuthModule.forRoot(options);
  const imports = controllers === ALL_CONTROLLERS ? [auth, FeatureModule] : [auth];
  return Test.createTestingModule({ imports, controllers }).compile();
}

/**
 * A real Nest application on 127.0.0.1 (Express or Fastify) with the guarded controllers above.
 * @param configure runs before the application listens (global middleware, for example).
 */
export async function startGuardedApp(
  platform: Platform,
  options: CloudRunAuthModuleOptions | { async: CloudRunAuthModuleAsyncOptions },
  logger = new CapturingLogger(),
  configure?: (app: INestApplication) => void,
): Promise<GuardedApp> {
  const moduleRef = await compileGuardedModule(options);
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger })
      : moduleRef.createNestApplication({ logger });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const call = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> => {
    const response = await fetch(url + path, { method, headers });
    return {
      status: response.status,
      body: await response.text(),
      wwwAuthenticate: response.headers.get('www-authenticate'),
    };
  };
  const raw = (path: string, rawHeaders: string[]) =>
    new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        url + path,
        { headers: ['Host', new URL(url).host, ...rawHeaders] as unknown as Record<string, string> },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const www = res.headers['www-authenticate'];
            resolve({
              status: res.statusCode!,
              body: Buffer.concat(chunks).toString(),
              wwwAuthenticate: typeof www === 'string' ? www : null,
            });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  return { app, url, logger, call, raw, close: () => app.close() };
}

/**
 * The hooks of e2e files whose tests each start their own app: one emulator for the file
 * (reset after each test) and `start()`, whose app is closed after the test.
 * @param bind receives the emulator once it runs.
 */
export function useGuardedApps(platform: Platform, bind: (emu: Emulator) => void) {
  let emu: Emulator | undefined;
  let guarded: GuardedApp | undefined;
  beforeAll(async () => {
    emu = await startEmulator();
    bind(emu);
  });
  afterEach(async () => {
    await guarded?.close();
    guarded = undefined;
    emu?.reset();
  });
  afterAll(() => emu?.close());
  return {
    start: async (options: Parameters<typeof startGuardedApp>[1]) =>
      (guarded = await startGuardedApp(platform, options)),
  };
}
