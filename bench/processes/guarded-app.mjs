// A Nest application with three identical routes: one behind CloudRunAuthGuard, one behind a
// guard that allows everything (what any guard costs in Nest), and one without a guard.
// Usage: guarded-app.mjs <express|fastify> <audience> <certsUrl> [metrics]
// With `metrics`, an OpenTelemetry MeterProvider is registered before Nest starts, as an
// application does, and collected every few seconds (into memory) while the load runs.
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
import { reportReady } from '../support/processes.mjs';

const [platform, audience, certsUrl, telemetry] = process.argv.slice(2);
/** Collections while a round runs: their cost is part of what is measured. */
const EXPORT_INTERVAL_MS = 2000;

if (telemetry === 'metrics') {
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
