// Guard end to end: requests/s to a guarded and an unguarded route of the same Nest application
// (Express, then Fastify), in its own process, loaded by autocannon from this one. All routes
// get the same requests, token included; only the guarded one looks at it. A third route behind
// a guard that allows everything separates what Nest charges for any guard from what ours costs.
// A second application, identical but with an OpenTelemetry MeterProvider registered (metrics
// on), runs beside the first: its guarded and unguarded routes are measured in the same rounds.
import autocannon from 'autocannon';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { startProcess } from './support/processes.mjs';
import { median, medianRatio, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const PLATFORMS = ['express', 'fastify'];
// Real traffic: a few callers, each reusing its token for its lifetime (Google's clients cache
// it for an hour). One caller per connection.
const CALLERS = 10;
// Environment overrides, to check the script quickly; the published numbers use the defaults.
const DURATION_S = Number(process.env.GUARD_BENCH_SECONDS) || 2;
const WARMUP_S = 1;
const ROUNDS = Number(process.env.GUARD_BENCH_ROUNDS) || 6;
/** Application starts of the interleaved measurement, and segments (each DURATION_S long) per start. */
const STARTS = Number(process.env.GUARD_BENCH_STARTS) || 3;
const SEGMENTS = Number(process.env.GUARD_BENCH_SEGMENTS) || 3;
// `control` is a second allow-all route: its difference from `noop` is the method's own error.
// `before` is the guard of another build (GUARD_BENCH_BEFORE, see bench/processes/guarded-app.mjs).
const ROUTES = ['open', 'noop', 'control', 'guarded', ...(process.env.GUARD_BENCH_BEFORE ? ['before'] : [])];

const emu = await startEmulator();
const tokens = Array.from({ length: CALLERS }, (_, i) =>
  emu.mintIdToken({ aud: AUDIENCE, email: `caller-${i}@emulator-project.iam.gserviceaccount.com` }),
);

/** `items` `times` over, each time in another order; the same orders on every run (a fixed seed). */
function shuffledRepeats(items, times) {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const out = [];
  for (let t = 0; t < times; t++) {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    out.push(...copy);
  }
  return out;
}

async function load(url, durationS, app) {
  let next = 0;
  const cpuBefore = await app?.cpuMicros();
  const result = await autocannon({
    url,
    connections: CALLERS,
    duration: durationS,
    setupClient: (client) => client.setHeaders({ authorization: `Bearer ${tokens[next++ % CALLERS]}` }),
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} of ${result.requests.total} requests failed or were not 2xx`);
  const cpuMicros = app ? (await app.cpuMicros()) - cpuBefore : undefined;
  return {
    perSecond: result.requests.total / (result.duration || durationS),
    p99: result.latency.p99,
    // The server's CPU time per request: unlike req/s, it does not move with other work on the machine.
    cpuMicrosPerRequest: cpuMicros === undefined ? undefined : cpuMicros / result.requests.total,
  };
}

/**
 * The applications of the interleaved measurement. With metrics on only on Fastify, where a
 * microsecond is visible: there `/unmetered` (the guard without its telemetry) is asked too, so
 * that what metrics cost is measured within one application; two applications' loaded ratios
 * differ by more than that.
 */
const INTERLEAVED = [
  { platform: 'express', metrics: 'off' },
  { platform: 'fastify', metrics: 'off' },
  { platform: 'fastify', metrics: 'on' },
];

/** Each application (metrics off, metrics on) and the routes measured on it. */
const VARIANTS = [
  { metrics: 'off', args: [], routes: ['guarded', 'noop', 'open'] },
  { metrics: 'on', args: ['metrics'], routes: ['guarded', 'open'] },
];
const rows = [];
const comparisons = [];
const interleaved = [];
try {
  for (const platform of PLATFORMS) {
    const apps = {};
    try {
      for (const variant of VARIANTS) {
        apps[variant.metrics] = await startProcess('guarded-app', [platform, AUDIENCE, emu.certsUrl, ...variant.args]);
      }
      const contenders = VARIANTS.flatMap(({ metrics, routes }) => routes.map((route) => ({ metrics, route })));
      const key = ({ metrics, route }) => `${metrics}:${route}`;
      const url = ({ metrics, route }) => `${apps[metrics].url}/${route}`;
      // Warm-up: JIT, connection setup, and the guard's first JWKS fetch and token cache fill.
      for (const contender of contenders) await load(url(contender), WARMUP_S, apps[contender.metrics]);
      const runs = Object.fromEntries(contenders.map((contender) => [key(contender), []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < contenders.length; i++) {
          const contender = contenders[(r + i) % contenders.length];
          runs[key(contender)].push(await load(url(contender), DURATION_S, apps[contender.metrics]));
        }
      }
      const rps = (metrics, route) => runs[`${metrics}:${route}`]?.map((x) => x.perSecond);
      const p99 = (metrics, route) => median(runs[`${metrics}:${route}`].map((x) => x.p99));
      const cpu = (metrics, route) => runs[`${metrics}:${route}`]?.map((x) => x.cpuMicrosPerRequest);
      for (const { metrics } of VARIANTS) {
        const noop = rps(metrics, 'noop');
        rows.push({
          platform,
          metrics,
          guarded: round(median(rps(metrics, 'guarded')), 0),
          noop: noop && round(median(noop), 0),
          open: round(median(rps(metrics, 'open')), 0),
          ratio: round(medianRatio(rps(metrics, 'guarded'), rps(metrics, 'open')), 3),
          noopRatio: noop && round(medianRatio(noop, rps(metrics, 'open')), 3),
          guardedVsNoop: noop && round(medianRatio(rps(metrics, 'guarded'), noop), 3),
          guardedRounds: rps(metrics, 'guarded')
            .map((x) => round(x, 0))
            .join(' '),
          openRounds: rps(metrics, 'open')
            .map((x) => round(x, 0))
            .join(' '),
          guardedP99: p99(metrics, 'guarded'),
          openP99: p99(metrics, 'open'),
          guardedCpu: round(median(cpu(metrics, 'guarded')), 1),
          noopCpu: noop && round(median(cpu(metrics, 'noop')), 1),
          openCpu: round(median(cpu(metrics, 'open')), 1),
          // Requests per CPU second, as ratios: what req/s ratios would be with the server alone on its core.
          cpuRatio: round(medianRatio(cpu(metrics, 'open'), cpu(metrics, 'guarded')), 3),
          cpuVsNoop: noop && round(medianRatio(cpu(metrics, 'noop'), cpu(metrics, 'guarded')), 3),
          guardCpuMicros: noop && round(median(cpu(metrics, 'guarded').map((x, i) => x - cpu(metrics, 'noop')[i])), 2),
        });
      }
      // Per round: the guard's ratio with metrics on over its ratio with metrics off, so that load
      // changes between rounds (which hit both applications alike) cancel out.
      const ratios = (metrics) => rps(metrics, 'guarded').map((x, i) => x / rps(metrics, 'open')[i]);
      const cpuRatios = (metrics) => cpu(metrics, 'open').map((x, i) => x / cpu(metrics, 'guarded')[i]);
      comparisons.push({
        platform,
        normalized: round(medianRatio(ratios('on'), ratios('off')), 3),
        cpuNormalized: round(medianRatio(cpuRatios('on'), cpuRatios('off')), 3),
        guarded: round(medianRatio(rps('on', 'guarded'), rps('off', 'guarded')), 3),
        open: round(medianRatio(rps('on', 'open'), rps('off', 'open')), 3),
        normalizedRounds: ratios('on')
          .map((x, i) => round(x / ratios('off')[i], 3))
          .join(' '),
      });
    } finally {
      for (const app of Object.values(apps)) await app.close();
    }
  }

  // Interleaved: CALLERS connections ask the routes, each with each caller's token, in a shuffled
  // order (so that no route always follows the same one), and the server times each request's CPU
  // (see bench/processes/guarded-app.mjs). Whatever slows the machine slows the routes alike, a
  // request apart: the differences are the routes' own, within what the control shows.
  for (const { platform, metrics } of INTERLEAVED) {
    const routes = metrics === 'on' ? [...ROUTES, 'unmetered'] : ROUTES;
    const requests = shuffledRepeats(
      tokens.flatMap((token) =>
        routes.map((route) => ({ method: 'GET', path: `/${route}`, headers: { authorization: `Bearer ${token}` } })),
      ),
      20,
    );
    const segments = [];
    // Each start lays the application's objects out in memory anew, which moves what a route's
    // first touches of them cost: a few starts of a few segments each, rather than one long one.
    for (let start = 0; start < STARTS; start++) {
      const app = await startProcess('guarded-app', [
        platform,
        AUDIENCE,
        emu.certsUrl,
        'timed',
        ...(metrics === 'on' ? ['metrics'] : []),
      ]);
      try {
        const run = async (durationS) => {
          const result = await autocannon({ url: app.url, connections: CALLERS, duration: durationS, requests });
          const bad = result.non2xx + result.errors + result.timeouts;
          if (bad > 0) throw new Error(`interleaved ${platform}: ${bad} of ${result.requests.total} requests failed`);
        };
        await run(WARMUP_S);
        for (let i = 0; i < SEGMENTS; i++) {
          await app.ask('resetRouteCpu');
          await run(DURATION_S);
          const spent = await app.ask('routeCpu');
          segments.push(
            Object.fromEntries(routes.map((route) => [route, spent[`/${route}`].micros / spent[`/${route}`].requests])),
          );
        }
      } finally {
        await app.close();
      }
    }
    const of = (f) => median(segments.map(f));
    const guardMicros = of((x) => x.guarded - x.noop);
    const anyGuardMicros = of((x) => x.noop - x.open);
    const controlMicros = of((x) => x.control - x.noop);
    const beforeMicros = process.env.GUARD_BENCH_BEFORE ? of((x) => x.before - x.noop) : undefined;
    interleaved.push({
      platform,
      metrics,
      open: round(
        of((x) => x.open),
        2,
      ),
      noop: round(
        of((x) => x.noop),
        2,
      ),
      guarded: round(
        of((x) => x.guarded),
        2,
      ),
      anyGuardMicros: round(anyGuardMicros, 2),
      guardMicros: round(guardMicros, 2),
      controlMicros: round(controlMicros, 2),
      beforeMicros: beforeMicros === undefined ? undefined : round(beforeMicros, 2),
      afterVsBefore:
        beforeMicros === undefined
          ? undefined
          : round(
              of((x) => (x.guarded - x.noop) / (x.before - x.noop)),
              3,
            ),
      guardSegments: segments.map((x) => round(x.guarded - x.noop, 2)).join(' '),
      metricsMicros:
        metrics === 'on'
          ? round(
              of((x) => x.guarded - x.unmetered),
              2,
            )
          : undefined,
      // The guard with metrics over the same guard without, in one application: what metrics cost it.
      metricsRatio:
        metrics === 'on'
          ? round(
              of((x) => x.unmetered / x.guarded),
              3,
            )
          : undefined,
      // Requests per CPU second, as in the loaded tables, but of routes measured in the same moments.
      vsNoop: round(
        of((x) => x.noop / x.guarded),
        3,
      ),
      controlVsNoop: round(
        of((x) => x.noop / x.control),
        3,
      ),
      vsOpen: round(
        of((x) => x.open / x.guarded),
        3,
      ),
    });
  }
} finally {
  await emu.close();
}

printTable(
  `Guard end to end: requests/s, ${CALLERS} connections (one caller each), median of ${ROUNDS} × ${DURATION_S} s rounds`,
  [
    ['platform', 'Platform'],
    ['metrics', 'Metrics'],
    ['open', 'unguarded req/s'],
    ['noop', 'allow-all guard req/s'],
    ['guarded', 'CloudRunAuthGuard req/s'],
    ['ratio', 'guarded / unguarded'],
    ['noopRatio', 'allow-all guard / unguarded'],
    ['guardedVsNoop', 'guarded / allow-all guard'],
    ['guardedRounds', 'guarded per round'],
    ['openRounds', 'unguarded per round'],
    ['guardedP99', 'guarded p99 ms'],
    ['openP99', 'unguarded p99 ms'],
  ],
  rows,
);
printTable(
  'Server CPU per request (µs, medians of rounds); ratios are requests per CPU second, medians of per-round ratios',
  [
    ['platform', 'Platform'],
    ['metrics', 'Metrics'],
    ['openCpu', 'unguarded µs'],
    ['noopCpu', 'allow-all guard µs'],
    ['guardedCpu', 'CloudRunAuthGuard µs'],
    ['guardCpuMicros', 'guarded − allow-all µs'],
    ['cpuRatio', 'guarded / unguarded'],
    ['cpuVsNoop', 'guarded / allow-all guard'],
  ],
  rows,
);
printTable(
  'Metrics on / metrics off (medians of per-round ratios)',
  [
    ['platform', 'Platform'],
    ['normalized', '(guarded / unguarded) on ÷ off'],
    ['cpuNormalized', 'same, in server CPU per request'],
    ['guarded', 'guarded req/s on ÷ off'],
    ['open', 'unguarded req/s on ÷ off'],
    ['normalizedRounds', '(guarded / unguarded) on ÷ off per round'],
  ],
  comparisons,
);
printTable(
  `Interleaved: server CPU per request (µs) from Node's request event to the next one's, ${CALLERS} connections asking ` +
    `the routes with ${CALLERS} callers’ tokens in a shuffled order, means without each route's slowest and fastest 2%, ` +
    `medians of ${STARTS} starts × ${SEGMENTS} segments of ${DURATION_S} s`,
  [
    ['platform', 'Platform'],
    ['metrics', 'Metrics'],
    ['open', 'unguarded µs'],
    ['noop', 'allow-all guard µs'],
    ['guarded', 'CloudRunAuthGuard µs'],
    ['anyGuardMicros', 'allow-all − unguarded µs'],
    ['guardMicros', 'guarded − allow-all µs'],
    ['controlMicros', 'allow-all − allow-all (control) µs'],
    ...(process.env.GUARD_BENCH_BEFORE
      ? [
          ['beforeMicros', 'GUARD_BENCH_BEFORE build − allow-all µs'],
          ['afterVsBefore', 'this build / that build'],
        ]
      : []),
    ['guardSegments', 'guarded − allow-all per segment'],
    ['metricsMicros', 'guarded − guard without telemetry µs'],
    ['metricsRatio', 'guarded / guard without telemetry'],
    ['vsNoop', 'guarded / allow-all guard'],
    ['controlVsNoop', 'control / allow-all guard'],
    ['vsOpen', 'guarded / unguarded'],
  ],
  interleaved,
);
const targets = [
  ...rows
    .filter((r) => r.metrics === 'off')
    .map((r) => target(`guarded / unguarded ≥ 0.9 (${r.platform})`, r.ratio, r.ratio >= 0.9)),
  // Only on Fastify: Express' slower routes hide a microsecond in their noise.
  ...rows
    .filter((r) => r.metrics === 'off' && r.platform === 'fastify')
    .map((r) => target(`guarded / allow-all guard ≥ 0.97 (${r.platform})`, r.guardedVsNoop, r.guardedVsNoop >= 0.97)),
  ...comparisons.map((c) =>
    target(`guard with metrics on ≥ 0.95 × metrics off (${c.platform})`, c.normalized, c.normalized >= 0.95),
  ),
  // The same targets in server CPU per request, which other work on the machine does not move.
  ...rows
    .filter((r) => r.metrics === 'off')
    .map((r) => target(`guarded / unguarded ≥ 0.9 (${r.platform}, server CPU)`, r.cpuRatio, r.cpuRatio >= 0.9)),
  ...rows
    .filter((r) => r.metrics === 'off' && r.platform === 'fastify')
    .map((r) =>
      target(`guarded / allow-all guard ≥ 0.97 (${r.platform}, server CPU)`, r.cpuVsNoop, r.cpuVsNoop >= 0.97),
    ),
  ...comparisons.map((c) =>
    target(
      `guard with metrics on ≥ 0.95 × metrics off (${c.platform}, server CPU)`,
      c.cpuNormalized,
      c.cpuNormalized >= 0.95,
    ),
  ),
  // The same targets from the interleaved routes, measured in the same moments.
  ...interleaved
    .filter((r) => r.metrics === 'off' && r.platform === 'fastify')
    .map((r) => target(`guarded / allow-all guard ≥ 0.97 (${r.platform}, interleaved)`, r.vsNoop, r.vsNoop >= 0.97)),
  ...interleaved
    .filter((r) => r.metrics === 'on')
    .map((r) =>
      target(
        `guard with metrics on ≥ 0.95 × metrics off (${r.platform}, interleaved)`,
        r.metricsRatio,
        r.metricsRatio >= 0.95,
      ),
    ),
];
printTargets(targets);
writeSection('guard', {
  description:
    `autocannon (this process) against two Nest apps in child processes, identical but for an OpenTelemetry MeterProvider ` +
    `registered in the second (metrics on); ${CALLERS} connections, each sending its own caller's token on every request; ` +
    'rounds rotate the order of the (application, route) pairs. All routes return the same body. Ratios are medians of per-round ratios. ' +
    `Interleaved: a third app times the CPU of each request, from its request event to the next one's, while ${CALLERS} ` +
    'connections ask the routes in a shuffled order; per route, the mean without the slowest and fastest 2%. On Fastify, ' +
    'a fourth app does the same with metrics on, with a route whose guard has no telemetry.',
  callers: CALLERS,
  roundSeconds: DURATION_S,
  rounds: ROUNDS,
  rows,
  metricsOnVsOff: comparisons,
  starts: STARTS,
  segmentsPerStart: SEGMENTS,
  interleaved,
  headline: Object.fromEntries([
    ...rows
      .filter((r) => r.metrics === 'off')
      .flatMap((r) => [
        [`guardedVsUnguarded@${r.platform}`, r.ratio],
        [`guardedVsAllowAll@${r.platform}`, r.guardedVsNoop],
        [`guardedVsUnguardedCpu@${r.platform}`, r.cpuRatio],
        [`guardedVsAllowAllCpu@${r.platform}`, r.cpuVsNoop],
      ]),
    ...comparisons.map((c) => [`guardMetricsOnVsOff@${c.platform}`, c.normalized]),
    ...interleaved
      .filter((r) => r.metrics === 'off')
      .flatMap((r) => [
        [`guardMicrosInterleaved@${r.platform}`, r.guardMicros],
        [`guardedVsAllowAllInterleaved@${r.platform}`, r.vsNoop],
      ]),
    ...interleaved
      .filter((r) => r.metrics === 'on')
      .map((r) => [`metricsMicrosInterleaved@${r.platform}`, r.metricsMicros]),
  ]),
  targets,
});
