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
    /** Asks the child the question `name` (see `answer`) and resolves with its answer. */
    const ask = (name) => {
      const id = ++asked;
      return new Promise((resolve) => {
        const onMessage = (message) => {
          if (message?.answers !== id) return;
          child.off('message', onMessage);
          resolve(message.value);
        };
        child.on('message', onMessage);
        child.send({ ask: name, id });
      });
    };
    return {
      url,
      child,
      ask,
      /** The child's CPU time so far (user + system), in µs. */
      cpuMicros: () => ask('cpuMicros'),
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

const questions = new Map([
  // CPU time on request: what the server spent, whatever else ran on the machine meanwhile.
  [
    'cpuMicros',
    () => {
      const { user, system } = process.cpuUsage();
      return user + system;
    },
  ],
]);

/** In a forked child: answers the parent's `ask(name)` with what `respond()` returns. */
export function answer(name, respond) {
  questions.set(name, respond);
}

/** In a forked child: tells the parent it listens on `url`, and exits when the parent goes away. */
export function reportReady(url) {
  process.send?.({ ready: true, url });
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    const respond = message?.ask !== undefined && questions.get(message.ask);
    if (respond) process.send?.({ answers: message.id, value: respond() });
  });
}
