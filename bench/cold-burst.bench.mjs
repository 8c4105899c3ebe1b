// Cold burst: N concurrent first requests to one audience, with an empty token cache. Counts the
// metadata-server ID-token calls each client makes before all N requests are answered.
import { NestFactory } from '@nestjs/core';
import { GoogleAuth } from 'google-auth-library';
import { CloudRunAuthModule, getServiceClientToken } from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { IDENTITY_PATH, useEmulatorAsGoogle } from './support/env.mjs';
import { startProcess } from './support/processes.mjs';
import { printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const BURSTS = [1, 10, 100, 1000];

const emu = await startEmulator();
useEmulatorAsGoogle(emu);
const service = await startProcess('target');

/** Fires `n` requests at once and waits for all; returns metadata calls, failures and wall time. */
async function burst(n, send) {
  emu.reset();
  const started = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: n }, (_, i) => send(`/burst/${i}`)));
  return {
    metadataCalls: emu.requestCount(IDENTITY_PATH),
    failed: outcomes.filter((o) => o.status === 'rejected').length,
    ms: performance.now() - started,
  };
}

async function ours(n) {
  // A fresh application per burst: a fresh, empty token cache, as at a cold start.
  const app = await NestFactory.createApplicationContext(
    CloudRunAuthModule.forRoot({ services: [{ name: 'target', url: service.url }] }),
    { logger: false },
  );
  try {
    const client = app.get(getServiceClientToken('target'));
    return await burst(n, (path) => client.axiosRef.get(path));
  } finally {
    await app.close();
  }
}

async function google(n) {
  // Created before the burst (as an application would at startup); its metadata probes are not counted.
  const client = await new GoogleAuth().getIdTokenClient(service.url);
  return burst(n, (path) => client.request({ url: `${service.url}${path}` }));
}

const rows = [];
try {
  // Unrecorded: loads and JIT-compiles both HTTP stacks, so N = 1 measures a cold cache, not a cold process.
  await ours(1);
  await google(1);
  for (const n of BURSTS) {
    const a = await ours(n);
    const b = await google(n);
    rows.push({
      n,
      ours: a.metadataCalls,
      google: b.metadataCalls,
      ratio: round(a.metadataCalls / b.metadataCalls, 4),
      oursMs: round(a.ms, 1),
      googleMs: round(b.ms, 1),
      oursFailed: a.failed,
      googleFailed: b.failed,
    });
  }
} finally {
  await service.close();
  await emu.close();
}

printTable(
  'Cold burst: metadata-server ID-token calls for N concurrent first requests',
  [
    ['n', 'N'],
    ['ours', 'ServiceClient'],
    ['google', 'IdTokenClient.request'],
    ['ratio', 'ours / google'],
    ['oursMs', 'ours: burst ms'],
    ['googleMs', 'google: burst ms'],
    ['oursFailed', 'ours: failed'],
    ['googleFailed', 'google: failed'],
  ],
  rows,
);
const targets = [
  target(
    '1 metadata call per burst at every N',
    rows.map((r) => r.ours).join(' / '),
    rows.every((r) => r.ours === 1 && r.oursFailed === 0),
  ),
];
printTargets(targets);
writeSection('coldBurst', {
  description:
    'Metadata-server ID-token calls made while N concurrent first requests to one audience are answered (fresh cache/client per N). Burst ms is wall time until all N are answered, emulator in the same process.',
  rows,
  headline: Object.fromEntries(rows.map((r) => [`metadataCallsRatio@N=${r.n}`, r.ratio])),
  targets,
});
