// Guard hit cost in isolation: CPU time of one CloudRunAuthGuard.canActivate() for a token it has
// already verified (the normal case: a caller reuses its token for an hour), from a Fastify-shaped
// and an Express-shaped request, in a loop with no HTTP server and no Nest request pipeline. An
// allow-all guard called the same way is the loop's own cost, subtracted from ours. CPU time, not
// wall time, so that other work on the machine does not count. A third guard, built by Nest in a
// second application started after an OpenTelemetry MeterProvider was registered, records its
// decisions and verification durations: the difference is what metrics cost a hit.
// Before/after in one run: GUARD_HIT_BEFORE=<the ESM entry (dist/esm/index.js) of another build>
// adds that build's guard to the same rounds. Put that build inside this checkout (e.g. a copy of
// an older commit's dist/ in .before/dist) so that it loads the same @nestjs packages.
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import * as library from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { median, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const CALLERS = 10;
const ITERATIONS = 200_000;
const ROUNDS = 9;
const TARGET_NS = 500;

class HitController {
  guarded() {
    return { ok: true };
  }
}
Get('guarded')(HitController.prototype, 'guarded', Object.getOwnPropertyDescriptor(HitController.prototype, 'guarded'));
Controller()(HitController);

const emu = await startEmulator();
let rows;
const contexts = [];

/** The inbound options of every guard here. */
const auth = (lib) =>
  lib.CloudRunAuthModule.forRoot({
    inbound: {
      audience: AUDIENCE,
      certsUrl: emu.certsUrl,
      allowedCallers: ['*@emulator-project.iam.gserviceaccount.com'],
    },
  });

/** The guard of `lib` (a build of this package) in an application context of its own. */
async function guardOf(lib) {
  class AppModule {}
  // A provider, so that Nest builds it as it builds a guard (whichever way the build injects).
  Module({ imports: [auth(lib)], providers: [lib.CloudRunAuthGuard] })(AppModule);
  const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
  contexts.push(context);
  return context.get(lib.CloudRunAuthGuard);
}
try {
  const guard = await guardOf(library);
  const allowAll = { canActivate: () => true };
  const before = process.env.GUARD_HIT_BEFORE && (await guardOf(await import(resolve(process.env.GUARD_HIT_BEFORE))));

  // Metrics on: the provider is registered before the application starts, as an application does,
  // and collected every second (into memory) while the loops run.
  const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  class MeteredModule {}
  Module({ imports: [auth(library)], providers: [library.CloudRunAuthGuard] })(MeteredModule);
  const metered = await NestFactory.createApplicationContext(MeteredModule, { logger: false });
  const meteredGuard = metered.get(library.CloudRunAuthGuard);

  const tokens = Array.from({ length: CALLERS }, (_, i) =>
    emu.mintIdToken({ aud: AUDIENCE, email: `caller-${i}@emulator-project.iam.gserviceaccount.com` }),
  );
  // Requests as the two platforms hand them to guards: Fastify's own request object (headers
  // plus the Node request in `raw`), and Node's IncomingMessage itself (Express' request).
  const rawHeadersOf = (token) => [
    'Host',
    '127.0.0.1:3000',
    'User-Agent',
    'autocannon',
    'Accept',
    '*/*',
    'Authorization',
    `Bearer ${token}`,
  ];
  const headersOf = (raw) =>
    Object.fromEntries(Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i].toLowerCase(), raw[2 * i + 1]]));
  const platforms = {
    fastify: (token) => {
      const rawHeaders = rawHeadersOf(token);
      return {
        id: 'req-1',
        headers: headersOf(rawHeaders),
        raw: { rawHeaders },
        params: {},
        query: {},
        body: undefined,
      };
    },
    express: (token) => {
      const request = new IncomingMessage(new Socket());
      request.rawHeaders = rawHeadersOf(token);
      Object.assign(request.headers, headersOf(request.rawHeaders));
      return request;
    },
  };
  const handler = HitController.prototype.guarded;
  const contextFor = (request) => {
    const context = new ExecutionContextHost([request, {}, () => undefined], HitController, handler);
    context.setType('http');
    return context;
  };

  // A fresh request per call, as in a server; building it is part of the loop's cost for both guards.
  const loop = (candidate, makeRequest) => {
    // CPU time of this process, not wall time: other work on the machine delays the loop but does not add to it.
    const started = process.cpuUsage();
    let allowed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      if (candidate.canActivate(contextFor(makeRequest(i))) === true) allowed++;
    }
    const used = process.cpuUsage(started);
    const ns = ((used.user + used.system) * 1000) / ITERATIONS;
    if (allowed !== ITERATIONS) throw new Error(`only ${allowed} of ${ITERATIONS} calls were allowed synchronously`);
    return ns;
  };

  rows = [];
  for (const [platform, build] of Object.entries(platforms)) {
    // Requests are built once and reused, so that the loop measures the guard, not the allocator.
    const requests = Array.from({ length: 64 }, (_, i) => build(tokens[i % CALLERS]));
    for (const token of tokens) await guard.canActivate(contextFor(build(token)));
    for (const token of tokens) await meteredGuard.canActivate(contextFor(build(token)));
    if (before) for (const token of tokens) await before.canActivate(contextFor(build(token)));
    const makeRequest = (i) => requests[i & 63];
    const ours = [];
    const baseline = [];
    const withMetrics = [];
    const beforeNs = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      const a = loop(guard, makeRequest);
      const b = loop(allowAll, makeRequest);
      const c = loop(meteredGuard, makeRequest);
      const d = before && loop(before, makeRequest);
      exporter.reset();
      if (r === 0) continue; // warm-up round
      ours.push(a);
      baseline.push(b);
      withMetrics.push(c);
      if (before) beforeNs.push(d);
    }
    const hitNs = median(ours.map((a, i) => a - baseline[i]));
    rows.push({
      platform,
      guardNs: round(median(ours), 0),
      baselineNs: round(median(baseline), 0),
      hitNs: round(hitNs, 0),
      meteredHitNs: round(median(withMetrics.map((c, i) => c - baseline[i])), 0),
      metricsNs: round(median(withMetrics.map((c, i) => c - ours[i])), 0),
      beforeHitNs: before ? round(median(beforeNs.map((d, i) => d - baseline[i])), 0) : undefined,
      afterVsBefore: before
        ? round(median(ours.map((a, i) => (a - baseline[i]) / (beforeNs[i] - baseline[i]))), 3)
        : undefined,
    });
  }
  await metered.close();
  for (const context of contexts) await context.close();
  metrics.disable();
} finally {
  await emu.close();
}

printTable(
  `Guard hit cost in isolation: ns per canActivate(), median of ${ROUNDS} rounds × ${ITERATIONS} calls, ${CALLERS} callers' tokens`,
  [
    ['platform', 'Request shape'],
    ['guardNs', 'CloudRunAuthGuard ns/call'],
    ['baselineNs', 'allow-all guard ns/call (loop cost)'],
    ['hitNs', 'hit cost ns'],
    ['meteredHitNs', 'hit cost with metrics on ns'],
    ['metricsNs', 'metrics on − off ns'],
    ...(process.env.GUARD_HIT_BEFORE
      ? [
          ['beforeHitNs', 'hit cost, GUARD_HIT_BEFORE build ns'],
          ['afterVsBefore', 'this build / that build'],
        ]
      : []),
  ],
  rows,
);
const targets = rows.map((r) =>
  target(`guard hit ≤ ${TARGET_NS} ns (${r.platform}-shaped request)`, r.hitNs, r.hitNs <= TARGET_NS),
);
printTargets(targets);
writeSection('guardHit', {
  description:
    'canActivate() of CloudRunAuthGuard for already-verified tokens, called in a loop on ExecutionContextHosts of a ' +
    'Fastify-shaped request and of a Node IncomingMessage (Express); the same loop with an allow-all guard is subtracted. ' +
    'With metrics: the guard of a second application started with an OpenTelemetry MeterProvider registered.',
  iterations: ITERATIONS,
  rounds: ROUNDS,
  rows,
  headline: Object.fromEntries(
    rows.flatMap((r) => [
      [`hitNs@${r.platform}`, r.hitNs],
      [`metricsNs@${r.platform}`, r.metricsNs],
    ]),
  ),
  targets,
});
