// A Nest application with identical routes: one behind CloudRunAuthGuard, two behind a guard that
// allows everything (what any guard costs in Nest), and one without a guard.
// Usage: guarded-app.mjs <express|fastify> <audience> <certsUrl> [metrics] [timed]
// With `metrics`, an OpenTelemetry MeterProvider is registered before Nest starts, as an
// application does, and collected every few seconds (into memory) while the load runs.
// With `timed`, the CPU time from the moment Node hands a request over to the moment it hands the
// next one over is kept per request and path; the parent asks for each path's trimmed total
// (`routeCpu`) and resets them (`resetRouteCpu`).
// With GUARD_BENCH_BEFORE=<the ESM entry of another build of this package> in the environment, a
// `/before` route is guarded by that build's CloudRunAuthGuard (its module imported too).
// Plain JavaScript, so decorators are applied by calling them, as compiled TypeScript does.
import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { CloudRunAuthGuard, CloudRunAuthModule } from 'nestjs-cloud-run-auth';
import { resolve } from 'node:path';
import { answer, reportReady } from '../support/processes.mjs';

const [platform, audience, certsUrl, ...flags] = process.argv.slice(2);
const before = process.env.GUARD_BENCH_BEFORE && (await import(resolve(process.env.GUARD_BENCH_BEFORE)));
const inbound = { audience, certsUrl, allowedCallers: ['*@emulator-project.iam.gserviceaccount.com'] };
/** Collections while a round runs: their cost is part of what is measured. */
const EXPORT_INTERVAL_MS = 2000;

if (flags.includes('metrics')) {
  // Delta temporality: each export holds one interval's points, as with an OTLP backend that wants deltas.
  const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: EXPORT_INTERVAL_MS });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  // Keep memory flat over the run: drop what was exported.
  setInterval(() => exporter.reset(), EXPORT_INTERVAL_MS).unref();
}

class AllowAllGuard {
  canActivate() {
    return true;
  }
}
Injectable()(AllowAllGuard);

/**
 * CloudRunAuthGuard without its telemetry: in an application with metrics on, the difference
 * between `/guarded` and `/unmetered` is what metrics cost the guard, measured in one process.
 */
class UnmeteredGuard extends CloudRunAuthGuard {}
// `telemetry` is injected as a property after construction; this accessor keeps it absent.
Object.defineProperty(UnmeteredGuard.prototype, 'telemetry', { get: () => null, set: () => {} });
Injectable()(UnmeteredGuard);

class BenchController {
  open() {
    return { ok: true };
  }

  noop() {
    return { ok: true };
  }

  control() {
    return { ok: true };
  }

  guarded() {
    return { ok: true };
  }

  before() {
    return { ok: true };
  }

  unmetered() {
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
// The same as `noop` under another path: what the interleaved measurement reads between two identical routes.
Get('control')(...method('control'));
UseGuards(AllowAllGuard)(...method('control'));
Get('guarded')(...method('guarded'));
UseGuards(CloudRunAuthGuard)(...method('guarded'));
Get('unmetered')(...method('unmetered'));
UseGuards(UnmeteredGuard)(...method('unmetered'));
if (before) {
  Get('before')(...method('before'));
  UseGuards(before.CloudRunAuthGuard)(...method('before'));
}
Controller()(BenchController);

class AppModule {}
Module({
  imports: [
    CloudRunAuthModule.forRoot({ inbound }),
    ...(before ? [before.CloudRunAuthModule.forRoot({ inbound })] : []),
  ],
  controllers: [BenchController],
  providers: [AllowAllGuard],
})(AppModule);

const app =
  platform === 'fastify'
    ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
    : await NestFactory.create(AppModule, { logger: false });
if (flags.includes('timed')) {
  /** Most requests kept per path and segment. */
  const CAPACITY = 1 << 18;
  /** Per path: the CPU µs of each of its requests, in order. */
  let spent = new Map();
  /** The path of the request being worked on, and the process' CPU µs when Node handed it over. */
  let current;
  let startedAt = 0;
  // Before the platform's own listener. A request's whole route (guard, handler, response written)
  // runs in the callback that emitted it and its microtasks, so the CPU time from one request's
  // event to the next request's is the first request's route, plus work every request has alike
  // (reading and parsing the next request, finishing earlier writes). That holds with any number
  // of connections: the routes are measured under load, in the same moments.
  app.getHttpServer().prependListener('request', (request) => {
    const { user, system } = process.cpuUsage();
    const now = user + system;
    if (current !== undefined) {
      let path = spent.get(current);
      if (path === undefined) spent.set(current, (path = { micros: new Float64Array(CAPACITY), requests: 0 }));
      if (path.requests < CAPACITY) path.micros[path.requests++] = now - startedAt;
    }
    current = request.url;
    startedAt = now;
  });
  // Per path: the mean CPU µs of its requests once the slowest and fastest 2% are set aside. A
  // pause of the host or of the garbage collector lands on whichever request is running; trimmed,
  // it cannot decide a route's figure.
  answer('routeCpu', () =>
    Object.fromEntries(
      [...spent].map(([path, { micros, requests }]) => {
        const sorted = micros.subarray(0, requests).sort();
        const cut = Math.floor(requests * 0.02);
        const kept = sorted.subarray(cut, requests - cut);
        return [path, { micros: kept.reduce((sum, x) => sum + x, 0), requests: kept.length }];
      }),
    ),
  );
  answer('resetRouteCpu', () => {
    spent = new Map();
    current = undefined;
    return true;
  });
}
await app.listen(0, '127.0.0.1');
reportReady(`http://127.0.0.1:${app.getHttpServer().address().port}`);
