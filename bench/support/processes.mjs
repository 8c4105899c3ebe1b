// Servers under load run in their own process, so that the load generator and the server do not
// share an event loop. On a 2-core machine they still share the cores; BENCHMARKS.md says so.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * Forks `bench/processes/<name>.mjs` and waits for its `{ ready: true, url }` message.
 * @returns {{ url: string, child: import('node:child_process').ChildProcess, close(): Promise<void> }}
 */
export async function startProcess(name, args = [], { env, readyTimeoutMs = 30_000 } = {}) {
  const script = fileURLToPath(new URL(`../processes/${name}.mjs`, import.meta.url));
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const timer = setTimeout(() => child.kill(), readyTimeoutMs);
  try {
    const ready = new Promise((resolve, reject) => {
      child.on('message', (message) => message?.ready && resolve(message));
      child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before it was ready`)));
    });
    const { url } = await ready;
    let asked = 0;
    return {
      url,
      child,
      /** The child's CPU time so far (user + system), in µs. */
      cpuMicros() {
        const id = ++asked;
        return new Promise((resolve) => {
          const onMessage = (message) => {
            if (message?.cpu !== id) return;
            child.off('message', onMessage);
            resolve(message.micros);
          };
          child.on('message', onMessage);
          child.send({ cpu: id });
        });
      },
      async close() {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.kill();
        await exited;
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

/** In a forked child: tells the parent it listens on `url`, and exits when the parent goes away. */
export function reportReady(url) {
  process.send?.({ ready: true, url });
  process.on('disconnect', () => process.exit(0));
  // CPU time on request: what the server spent, whatever else ran on the machine meanwhile.
  process.on('message', (message) => {
    if (message?.cpu === undefined) return;
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: message.cpu, micros: user + system });
  });
}
