import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** A Node script run as a real child process, with its output collected. */
export interface RunningScript {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first or after `timeoutMs`. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Settles when stdout and stderr are closed: every process that inherited them (children too) has exited. */
  outputClosed: Promise<void>;
  /** SIGKILLs the process if it is still running (test cleanup). */
  kill(): Promise<void>;
}

export interface RunOptions {
  /** An IPC channel, as the local demo gives its services. @default false */
  ipc?: boolean;
  /** Its own process group (`-pid`), like a job in a terminal. @default false */
  detached?: boolean;
  cwd?: string;
  /** Written to its stdin, then closed. @default none (no stdin) */
  input?: string;
}

/** Runs `node script ...args` with `env` (nothing inherited beyond PATH and HOME unless passed). */
export function runScript(
  script: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: RunOptions = {},
): RunningScript {
  return run(process.execPath, [script, ...args], env, options);
}

/** Runs any command, like {@link runScript}. */
export function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: RunOptions = {},
): RunningScript {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(options.ipc ? ['ipc' as const] : [])],
    detached: options.detached ?? false,
    cwd: options.cwd,
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const outputClosed = Promise.all(
    [child.stdout!, child.stderr!].map(
      (stream) => new Promise<void>((resolve) => stream.once('close', () => resolve())),
    ),
  ).then(() => undefined);
  const describe = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    outputClosed,
    waitForStdout(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = stdout.match(pattern);
          if (!match) return false;
          done();
          resolve(match);
          return true;
        };
        const onData = () => void check();
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} in the output within ${timeoutMs} ms\n${describe()}`));
        }, timeoutMs);
        const onExit = () => {
          // Output may still be buffered in the pipe when 'exit' fires.
          setImmediate(() => {
            if (check()) return;
            done();
            reject(new Error(`exited before printing ${pattern}\n${describe()}`));
          });
        };
        const done = () => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
        };
        child.stdout!.on('data', onData);
        child.once('exit', onExit);
        check();
      });
    },
    async kill() {
      if (options.detached && child.pid && isAlive(-child.pid)) process.kill(-child.pid, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Whether something accepts TCP connections on `host:port`. */
export function isListening(hostPort: string): Promise<boolean> {
  const url = new URL(hostPort.includes('://') ? hostPort : `http://${hostPort}`);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether a process with this pid (or, negative, a process group with this id) still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a command printed, and its exit code. */
export interface CommandOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Node script like {@link runScript} to its end; resolves with its exit code and output. */
export async function runToEnd(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): Promise<CommandOutput> {
  const running = runScript(script, args, env, { input });
  const [{ code }] = await Promise.all([running.exited, running.outputClosed]);
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}
