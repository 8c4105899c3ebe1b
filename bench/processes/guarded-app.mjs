// A Nest application with three identical routes: one behind CloudRunAuthGuard, one behind a
// guard that allows everything (what any guard costs in Nest), and one without a guard.
// Usage: guarded-app.mjs <express|fastify> <audience> <certsUrl>
// Plain JavaScript, so decorators are applied by calling them, as compiled TypeScript does.
import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { CloudRunAuthGuard, CloudRunAuthModule } from 'nestjs-cloud-run-auth';
import { reportReady } from '../support/processes.mjs';

const [platform, audience, certsUrl] = process.argv.slice(2);

class AllowAllGuard {
  canActivate() {
    return true;
  }
}
Injectable()(AllowAllGuard);

class BenchController {
  open() {
    return { ok: true };
  }

  noop() {
    return { ok: true };
  }

  guarded() {
    return { ok: true };
  }
}
const method = (name) => [
  BenchController.prototype,
  name,
  Object.getOwnPropertyDescriptor(BenchController.prototype, name),
];
Get('open')(...method('open'));
Get('noop')(...method('noop'));
UseGuards(AllowAllGuard)(...method('noop'));
Get('guarded')(...method('guarded'));
UseGuards(CloudRunAuthGuard)(...method('guarded'));
Controller()(BenchController);

class AppModule {}
Module({
  imports: [
    CloudRunAuthModule.forRoot({
      inbound: { audience, certsUrl, allowedCallers: ['*@emulator-project.iam.gserviceaccount.com'] },
    }),
  ],
  controllers: [BenchController],
  providers: [AllowAllGuard],
})(AppModule);

const app =
  platform === 'fastify'
    ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
    : await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
reportReady(`http://127.0.0.1:${app.getHttpServer().address().port}`);
