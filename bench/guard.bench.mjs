// Guard end to end: requests/s to a guarded and an unguarded route of the same Nest application
// (Express, then Fastify), in its own process, loaded by autocannon from this one. All routes
// get the same requests, token included; only the guarded one looks at it. A third route behind
// a guard that allows everything separates what Nest charges for any guard from what ours costs.
import autocannon from 'autocannon';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { startProcess } from './support/processes.mjs';
import { median, medianRatio, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const AUDIENCE = 'https://orders-abc123-ew.a.run.app';
const PLATFORMS = ['express', 'fastify'];
// Real traffic: a few callers, each reusing its token for its lifetime (Google's clients cache
// it for an hour). One caller per connection.
const CALLERS = 10;
const DURATION_S = 2;
const WARMUP_S = 1;
const ROUNDS = 6;

const emu = await startEmulator();
const tokens = Array.from({ length: CALLERS }, (_, i) =>
  emu.mintIdToken({ aud: AUDIENCE, email: `caller-${i}@emulator-project.iam.gserviceaccount.com` }),
);

async function load(url, durationS) {
  let next = 0;
  const result = await autocannon({
    url,
    connections: CALLERS,
    duration: durationS,
    setupClient: (client) => client.setHeaders({ authorization: `Bearer ${tokens[next++ % CALLERS]}` }),
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} of ${result.requests.total} requests failed or were not 2xx`);
  return { perSecond: result.requests.total / (result.duration || durationS), p99: result.latency.p99 };
}

const ROUTES = ['guarded', 'noop', 'open'];
const rows = [];
try {
  for (const platform of PLATFORMS) {
    const app = await startProcess('guarded-app', [platform, AUDIENCE, emu.certsUrl]);
    try {
      // Warm-up: JIT, connection setup, and the guard's first JWKS fetch and token cache fill.
      for (const route of ROUTES) await load(`${app.url}/${route}`, WARMUP_S);
      const runs = Object.fromEntries(ROUTES.map((route) => [route, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < ROUTES.length; i++) {
          const route = ROUTES[(r + i) % ROUTES.length];
          runs[route].push(await load(`${app.url}/${route}`, DURATION_S));
        }
      }
      const rps = (route) => runs[route].map((x) => x.perSecond);
      rows.push({
        platform,
        guarded: round(median(rps('guarded')), 0),
        noop: round(median(rps('noop')), 0),
        open: round(median(rps('open')), 0),
        ratio: round(medianRatio(rps('guarded'), rps('open')), 3),
        noopRatio: round(medianRatio(rps('noop'), rps('open')), 3),
        guardedVsNoop: round(medianRatio(rps('guarded'), rps('noop')), 3),
        guardedRounds: rps('guarded')
          .map((x) => round(x, 0))
          .join(' '),
        openRounds: rps('open')
          .map((x) => round(x, 0))
          .join(' '),
        guardedP99: median(runs.guarded.map((x) => x.p99)),
        openP99: median(runs.open.map((x) => x.p99)),
      });
    } finally {
      await app.close();
    }
  }
} finally {
  await emu.close();
}

printTable(
  `Guard end to end: requests/s, ${CALLERS} connections (one caller each), median of ${ROUNDS} × ${DURATION_S} s rounds`,
  [
    ['platform', 'Platform'],
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
const targets = [
  ...rows.map((r) => target(`guarded / unguarded ≥ 0.9 (${r.platform})`, r.ratio, r.ratio >= 0.9)),
  // Only on Fastify: Express' slower routes hide a microsecond in their noise.
  ...rows
    .filter((r) => r.platform === 'fastify')
    .map((r) => target(`guarded / allow-all guard ≥ 0.97 (${r.platform})`, r.guardedVsNoop, r.guardedVsNoop >= 0.97)),
];
printTargets(targets);
writeSection('guard', {
  description:
    `autocannon (this process) against a Nest app in a child process; ${CALLERS} connections, each sending its own caller's token on every request; ` +
    'rounds rotate the order of the routes. All routes return the same body. Ratios are medians of per-round ratios.',
  callers: CALLERS,
  roundSeconds: DURATION_S,
  rounds: ROUNDS,
  rows,
  headline: Object.fromEntries(
    rows.flatMap((r) => [
      [`guardedVsUnguarded@${r.platform}`, r.ratio],
      [`guardedVsAllowAll@${r.platform}`, r.guardedVsNoop],
    ]),
  ),
  targets,
});
