// Outbound overhead: requests/s to a loopback service (in its own process) with a warm token
// cache, through ServiceClient, through plain axios with a fixed Authorization header (the floor:
// no token logic at all), and through google-auth-library's IdTokenClient.request.
import { NestFactory } from '@nestjs/core';
import axios from 'axios';
import { GoogleAuth } from 'google-auth-library';
import { CloudRunAuthModule, getServiceClientToken, IdTokenCache } from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { IDENTITY_PATH, useEmulatorAsGoogle } from './support/env.mjs';
import { closedLoop, rotatingRounds } from './support/load.mjs';
import { startProcess } from './support/processes.mjs';
import { median, medianRatio, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

const CONCURRENCY = 16;
const ROUND_MS = 1000;
const ROUNDS = 10;
const WARMUP_MS = 1000;

const emu = await startEmulator();
useEmulatorAsGoogle(emu);
const service = await startProcess('target');
const app = await NestFactory.createApplicationContext(
  CloudRunAuthModule.forRoot({ services: [{ name: 'target', url: service.url }] }),
  { logger: false },
);

let rows;
let metadataCalls;
try {
  const serviceClient = app.get(getServiceClientToken('target')).axiosRef;
  // The same token ServiceClient sends, fixed once: what a hand-rolled client with no expiry
  // handling would do.
  const token = await app.get(IdTokenCache).getToken(service.url);
  const plain = axios.create({ baseURL: service.url, headers: { Authorization: `Bearer ${token}` } });
  const idTokenClient = await new GoogleAuth().getIdTokenClient(service.url);

  const contenders = {
    serviceClient: () => serviceClient.get('/orders/1'),
    plainAxios: () => plain.get('/orders/1'),
    idTokenClient: () => idTokenClient.request({ url: `${service.url}/orders/1` }),
  };
  // Warm every client (connections, JIT, the token caches) before anything is timed.
  for (const send of Object.values(contenders))
    await closedLoop({ concurrency: CONCURRENCY, durationMs: WARMUP_MS, send });
  emu.reset();

  const runs = await rotatingRounds(ROUNDS, contenders, (_, send) =>
    closedLoop({ concurrency: CONCURRENCY, durationMs: ROUND_MS, send }),
  );
  metadataCalls = emu.requestCount(IDENTITY_PATH);
  const perRound = (name) => runs[name].map((x) => x.perSecond);
  const failed = Object.fromEntries(
    Object.entries(runs).map(([name, r]) => [name, r.reduce((s, x) => s + x.failed, 0)]),
  );
  const labels = {
    serviceClient: 'ServiceClient (axiosRef)',
    plainAxios: 'plain axios, fixed header',
    idTokenClient: 'google IdTokenClient.request',
  };
  rows = Object.keys(contenders).map((name) => ({
    client: labels[name],
    rps: round(median(perRound(name)), 0),
    rounds: perRound(name)
      .map((x) => round(x, 0))
      .join(' '),
    vsServiceClient: round(medianRatio(perRound('serviceClient'), perRound(name)), 3),
    failed: failed[name],
  }));
} finally {
  await app.close();
  await service.close();
  await emu.close();
}

printTable(
  `Outbound overhead: requests/s, ${CONCURRENCY} concurrent, median of ${ROUNDS} × ${ROUND_MS / 1000} s rounds`,
  [
    ['client', 'Client'],
    ['rps', 'req/s (median)'],
    ['rounds', 'req/s per round'],
    ['vsServiceClient', 'ServiceClient / this'],
    ['failed', 'failed'],
  ],
  rows,
);
const [, plain, google] = rows;
const targets = [target('ServiceClient / plain axios ≥ 0.95', plain.vsServiceClient, plain.vsServiceClient >= 0.95)];
printTargets(targets);
writeSection('outboundOverhead', {
  description:
    'Requests/s to a loopback HTTP service in a separate process, warm token caches, same concurrency for each client; rounds rotate the order of the clients. Ratios are medians of per-round ratios.',
  concurrency: CONCURRENCY,
  roundSeconds: ROUND_MS / 1000,
  rounds: ROUNDS,
  metadataCallsDuringTimedRounds: metadataCalls,
  rows,
  headline: {
    serviceClientVsPlainAxios: plain.vsServiceClient,
    serviceClientVsIdTokenClient: google.vsServiceClient,
  },
  targets,
});
