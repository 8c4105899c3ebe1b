// Refresh boundary: request latency over a window centred on the moment the cached token enters
// its refresh window, with a metadata server that takes 100 ms per ID token. Both clients are
// configured with the same refresh window (ours: tokenCache.refreshWindowSeconds; google-auth-
// library: eagerRefreshThresholdMillis, which IdTokenClient checks before every request).
// Besides end-to-end latency, the time each request spends getting its token is timed on its
// own: CPU contention on a shared machine can make any request slow, but only a request that
// waited for the metadata server spends milliseconds on its token.
import { NestFactory } from '@nestjs/core';
import { GoogleAuth } from 'google-auth-library';
import { CloudRunAuthModule, getServiceClientToken, IdTokenCache } from 'nestjs-cloud-run-auth';
import { startEmulator } from 'nestjs-cloud-run-auth/testing';
import { IDENTITY_PATH, useEmulatorAsGoogle } from './support/env.mjs';
import { openLoop } from './support/load.mjs';
import { startProcess } from './support/processes.mjs';
import { percentile, printTable, printTargets, round, target, writeSection } from './support/report.mjs';

// Short-lived tokens so that a refresh comes within seconds; the window is under half the
// lifetime, so our cache does not cap it.
const LIFETIME_S = 10;
const REFRESH_WINDOW_S = 4;
const METADATA_DELAY_MS = 100;
/** The measured window starts this long before the refresh point and lasts twice as long. */
const LEAD_MS = 1500;
const INTERVAL_MS = 4; // 250 requests/s, open loop
const ROUNDS = 3;

const emu = await startEmulator({ tokenLifetimeSeconds: LIFETIME_S });
useEmulatorAsGoogle(emu);
const service = await startProcess('target');

const sleepUntil = (epochMs) => new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
const expOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000;

/**
 * Replaces `object[method]` (the per-request token step of a client) with a wrapper that records
 * how long each call took. The same wrapper on both clients, so both pay the same for it.
 */
function timeTokenStep(object, method) {
  const waits = [];
  const original = object[method].bind(object);
  object[method] = async (...args) => {
    const started = performance.now();
    try {
      return await original(...args);
    } finally {
      waits.push(performance.now() - started);
    }
  };
  return waits;
}
/**
 * A token step this long counts as waiting for the metadata server. A cached token takes
 * microseconds; starting a background refresh about a millisecond here; a GC pause or a busy
 * machine can add a few more. Half a metadata call cannot be mistaken for any of those.
 */
const WAIT_THRESHOLD_MS = METADATA_DELAY_MS / 2;

/** Each factory returns a warmed-up client: its `send`, the epoch ms its token expires, and its token-step times. */
const contenders = {
  async ours() {
    const app = await NestFactory.createApplicationContext(
      CloudRunAuthModule.forRoot({
        services: [{ name: 'target', url: service.url }],
        tokenCache: { refreshWindowSeconds: REFRESH_WINDOW_S },
      }),
      { logger: false },
    );
    const client = app.get(getServiceClientToken('target')).axiosRef;
    await client.get('/warm');
    const cache = app.get(IdTokenCache);
    const exp = expOf(await cache.getToken(service.url));
    // ServiceClient's interceptor takes a lease on this shared instance for every request.
    const tokenWaits = timeTokenStep(cache, 'lease');
    return { send: () => client.get('/orders/1'), exp, tokenWaits, close: () => app.close() };
  },
  async google() {
    const client = await new GoogleAuth().getIdTokenClient(service.url);
    client.eagerRefreshThresholdMillis = REFRESH_WINDOW_S * 1000;
    await client.request({ url: `${service.url}/warm` });
    // IdTokenClient.request gets its Authorization header (fetching a token if needed) here.
    const tokenWaits = timeTokenStep(client, 'getRequestMetadataAsync');
    return {
      send: () => client.request({ url: `${service.url}/orders/1` }),
      exp: client.credentials.expiry_date,
      tokenWaits,
      close: async () => undefined,
    };
  },
};

const samples = { ours: [], google: [] };
const waits = { ours: [], google: [] };
const calls = { ours: [], google: [] };
const failures = { ours: 0, google: 0 };
try {
  emu.fail(IDENTITY_PATH, { mode: 'slow', delayMs: METADATA_DELAY_MS, times: Infinity });
  const names = Object.keys(contenders);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(r + i) % names.length];
      const client = await contenders[name]();
      try {
        const refreshAt = client.exp - REFRESH_WINDOW_S * 1000;
        await sleepUntil(refreshAt - LEAD_MS);
        const before = emu.requestCount(IDENTITY_PATH);
        client.tokenWaits.length = 0;
        const { latencies, failed } = await openLoop({
          intervalMs: INTERVAL_MS,
          durationMs: 2 * LEAD_MS,
          send: client.send,
        });
        samples[name].push(...latencies);
        // Every request passes through the timed step: an empty list would make "none waited" vacuous.
        if (client.tokenWaits.length < latencies.length) {
          throw new Error(`${name}: ${client.tokenWaits.length} token steps timed for ${latencies.length} requests`);
        }
        waits[name].push(...client.tokenWaits);
        calls[name].push(emu.requestCount(IDENTITY_PATH) - before);
        failures[name] += failed;
      } finally {
        await client.close();
      }
    }
  }
} finally {
  await service.close();
  await emu.close();
}

const rows = Object.keys(samples).map((name) => {
  const sorted = samples[name].sort((a, b) => a - b);
  const tokenWaits = waits[name].sort((a, b) => a - b);
  return {
    client: name === 'ours' ? 'ServiceClient' : 'google IdTokenClient.request',
    requests: sorted.length,
    p50: round(percentile(sorted, 50), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted.at(-1), 1),
    slow: sorted.filter((ms) => ms >= METADATA_DELAY_MS).length,
    tokenP99: round(percentile(tokenWaits, 99), 3),
    tokenMax: round(tokenWaits.at(-1), 2),
    waited: tokenWaits.filter((ms) => ms >= WAIT_THRESHOLD_MS).length,
    metadataCalls: calls[name].join(' '),
    failed: failures[name],
  };
});
const [ours, google] = rows;

printTable(
  `Refresh boundary: latency (ms) over ${(2 * LEAD_MS) / 1000} s around the refresh point, ${1000 / INTERVAL_MS} req/s open loop, metadata server ${METADATA_DELAY_MS} ms, ${ROUNDS} rounds pooled`,
  [
    ['client', 'Client'],
    ['requests', 'requests'],
    ['p50', 'p50 ms'],
    ['p99', 'p99 ms'],
    ['max', 'max ms'],
    ['slow', `requests ≥ ${METADATA_DELAY_MS} ms`],
    ['tokenP99', 'token step p99 ms'],
    ['tokenMax', 'token step max ms'],
    ['waited', `waited for a token (≥ ${WAIT_THRESHOLD_MS} ms)`],
    ['metadataCalls', 'metadata calls per round'],
    ['failed', 'failed'],
  ],
  rows,
);
const targets = [
  target(
    'no request waits at a refresh boundary',
    ours.waited,
    ours.waited === 0,
    ours.waited === 0
      ? undefined
      : `${ours.waited} of ${ours.requests} requests spent ≥ ${WAIT_THRESHOLD_MS} ms getting their token`,
  ),
];
printTargets(targets);
writeSection('refreshBoundary', {
  description:
    `Open-loop requests (${1000 / INTERVAL_MS}/s) from ${LEAD_MS} ms before to ${LEAD_MS} ms after the cached token enters its ` +
    `${REFRESH_WINDOW_S} s refresh window (token lifetime ${LIFETIME_S} s, every metadata ID-token answer delayed ${METADATA_DELAY_MS} ms). ` +
    'Latency is measured from each request\'s scheduled start. "token step" is the time inside the client\'s per-request token call ' +
    `(ours: IdTokenCache.lease, google: getRequestMetadataAsync); "waited" counts token steps of ${WAIT_THRESHOLD_MS} ms or more.`,
  rounds: ROUNDS,
  rows,
  headline: { p50Ratio: round(ours.p50 / google.p50, 3), p99Ratio: round(ours.p99 / google.p99, 3) },
  targets,
});
