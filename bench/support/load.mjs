// In-process load loops, bounded by time (and the caller's round count), never open-ended.

/**
 * Closed loop: `concurrency` workers each send one request after the other until `durationMs`
 * has passed. Returns completed requests per second and the number of failures.
 */
export async function closedLoop({ concurrency, durationMs, send }) {
  let completed = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        try {
          await send();
          completed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { perSecond: completed / ((performance.now() - started) / 1000), completed, failed };
}

/**
 * Open loop: starts one request every `intervalMs` for `durationMs`, whether or not earlier ones
 * have finished (as independent callers do), and records each latency from its scheduled start.
 * A closed loop would hide a stall: its workers stop sending while they wait.
 */
export async function openLoop({ intervalMs, durationMs, send }) {
  const latencies = [];
  const pending = [];
  let failed = 0;
  const started = performance.now();
  const count = Math.floor(durationMs / intervalMs);
  for (let i = 0; i < count; i++) {
    const scheduled = started + i * intervalMs;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      send().then(
        () => latencies.push(performance.now() - scheduled),
        () => failed++,
      ),
    );
  }
  await Promise.all(pending);
  return { latencies: latencies.sort((a, b) => a - b), failed };
}

/** Runs `contenders` (name → async fn) for `rounds` rounds, rotating their order each round. */
export async function rotatingRounds(rounds, contenders, runOne) {
  const names = Object.keys(contenders);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length];
      results[name].push(await runOne(name, contenders[name]));
    }
  }
  return results;
}
