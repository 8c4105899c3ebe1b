// `npm run bench`: runs every benchmark in its own process, one after the other (never two at
// once: they would measure each other), after recording the machine in a fresh results.json.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { hostActivity, hostSample } from './support/host.mjs';
import { printTable, readResults, RESULTS_FILE, round, writeResults } from './support/report.mjs';

const BENCHES = [
  'cold-burst',
  'outbound-overhead',
  'verification',
  'guard-hit',
  'guard',
  'refresh-boundary',
  'unknown-kid',
  'unknown-spellings',
];
/** A bound on each script, so that a hang cannot keep the run going. */
const PER_BENCH_TIMEOUT_MS = 6 * 60_000;

const require = createRequire(import.meta.url);
const versionOf = (pkg) => {
  try {
    return require(`${pkg}/package.json`).version;
  } catch {
    return undefined;
  }
};
const cpuModel = () => {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
};
const git = (...args) => spawnSync('git', args, { encoding: 'utf8' }).stdout?.trim() || undefined;

const started = Date.now();
writeResults({
  machine: {
    nproc: availableParallelism(),
    cpu: cpuModel(),
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    // Other work on the machine shows up here; the ratios are meant to survive it, absolute numbers are not.
    loadAverageAtStart: loadavg().map((x) => round(x, 2)),
  },
  versions: {
    'nestjs-cloud-run-auth': versionOf('nestjs-cloud-run-auth'),
    'google-auth-library': versionOf('google-auth-library'),
    jose: versionOf('jose'),
    axios: versionOf('axios'),
    '@nestjs/core': versionOf('@nestjs/core'),
    autocannon: versionOf('autocannon'),
  },
  commit: git('rev-parse', '--short', 'HEAD'),
  startedAt: new Date(started).toISOString(),
});

const failed = [];
// How quiet the machine was while each script ran: the scripts' ratios survive noise, but not all of it.
const activity = [];
for (const name of BENCHES) {
  console.log(`\n## ${name}`);
  const script = fileURLToPath(new URL(`./${name}.bench.mjs`, import.meta.url));
  const before = hostSample();
  const { status, signal, error } = spawnSync(process.execPath, [script], {
    stdio: 'inherit',
    timeout: PER_BENCH_TIMEOUT_MS,
  });
  const shares = hostActivity(before, hostSample());
  if (shares) activity.push({ script: name, ...shares });
  if (status !== 0) {
    failed.push(name);
    console.error(`${name} failed (${error?.message ?? signal ?? `exit code ${status}`})`);
  }
}

const results = readResults();
results.finishedAt = new Date().toISOString();
results.machine.loadAverageAtEnd = loadavg().map((x) => round(x, 2));
results.durationSeconds = Math.round((Date.now() - started) / 1000);
if (activity.length) results.machine.activity = activity;
if (failed.length) results.failed = failed;
writeResults(results);

if (activity.length) {
  printTable(
    'Machine activity while each script ran (% of all cores’ time)',
    [
      ['script', 'Script'],
      ['benchPercent', 'the script’s processes'],
      ['othersPercent', 'other processes'],
      ['stealPercent', 'steal (other guests of the host)'],
    ],
    activity,
  );
}

const targets = Object.values(results).flatMap((section) => section?.targets ?? []);
printTable(
  'All targets',
  [
    ['target', 'Target'],
    ['value', 'Measured'],
    ['verdict', 'Met'],
  ],
  targets.map((t) => ({ ...t, verdict: t.met ? 'met' : 'MISSED' })),
);
console.log(`\n${results.durationSeconds} s; results in ${RESULTS_FILE}`);
if (failed.length) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
