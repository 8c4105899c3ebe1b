import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from 'nestjs-cloud-run-auth/testing';
import type { ListeningMessage } from '../serve.js';
import type { ServiceName } from '../config.js';
import { forgeToken } from './forged-token.js';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Ports on 127.0.0.1; 0 picks a free one. @default 0 for each */
  ports?: { gateway?: number; orders?: number; emulator?: number };
  /** The gateway's service account, handed out by the emulator. @default gateway@demo-project.iam.gserviceaccount.com */
  gatewayAccount?: string;
  /** How long a service may take to start listening. @default 20000 */
  startTimeoutMs?: number;
}

/** One service running as a child process (`node sample-app/dist/main.js`). */
export interface DemoService {
  name: ServiceName;
  url: string;
  pid: number;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/** How a service process ended. */
export interface DemoExit {
  service: DemoService;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The running demo: an emulator in this process and both services as child processes. */
export interface RunningDemo {
  emulator: Emulator;
  gateway: DemoService;
  orders: DemoService;
  gatewayAccount: string;
  /** The audience orders accepts (its own URL), which the gateway uses by default. */
  ordersAudience: string;
  /** Settles with the first service that exits, on its own or because of {@link close}. */
  firstExit: Promise<DemoExit>;
  /** Stops both services and the emulator; waits until they are gone. Idempotent. */
  close(): Promise<void>;
}

/** One call of {@link runScenario}, with its outcome in plain words. */
export interface DemoCheck {
  name: 'through-gateway' | 'no-token' | 'forged-token' | 'other-account';
  /** What is attempted. */
  description: string;
  method: 'GET';
  url: string;
  expectedStatus: number;
  status: number;
  /** What happened, in plain words. */
  outcome: string;
  passed: boolean;
  body: unknown;
  wwwAuthenticate: string | null;
  /** For a refusal: the reason code orders logged (`reason=...`), when it arrived in time. */
  loggedReason?: string;
}

export const DEFAULT_GATEWAY_ACCOUNT = 'gateway@demo-project.iam.gserviceaccount.com';
export const INTRUDER_ACCOUNT = 'intruder@demo-project.iam.gserviceaccount.com';
export const DEMO_ORDER_ID = '1001';

/** Variables of the sample a child must not inherit from the shell that runs the demo. */
const SAMPLE_VARIABLES = [
  'SAMPLE_SERVICE',
  'K_SERVICE',
  'PORT',
  'HOST',
  'ORDERS_URL',
  'ORDERS_AUDIENCE',
  'ALLOWED_CALLERS',
  'INBOUND_MODE',
  'CERTS_URL',
  'LOG_LEVEL',
  'GCE_METADATA_HOST',
  'GCE_METADATA_IP',
  'GOOGLE_APPLICATION_CREDENTIALS',
];

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * Starts the emulator and both services, configured exactly as on Cloud Run but through the
 * emulator: the gateway gets its tokens from the emulator's metadata server, and orders
 * verifies them against the emulator's keys. Everything listens on 127.0.0.1 only.
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const gatewayAccount = options.gatewayAccount ?? DEFAULT_GATEWAY_ACCOUNT;
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const started: { children: ChildProcess[]; emulator?: Emulator; configDir?: string } = { children: [] };
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= shutdown(started));

  try {
    const [gatewayPort, ordersPort] = await Promise.all([
      reservePort('gateway', options.ports?.gateway ?? 0),
      reservePort('orders', options.ports?.orders ?? 0),
    ]);
    const emulatorPort = options.ports?.emulator ?? 0;
    const emulator = await startEmulator({
      port: emulatorPort,
      serviceAccountEmail: gatewayAccount,
      projectId: 'demo-project',
    }).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EADDRINUSE' ? new PortInUseError('emulator', emulatorPort) : error;
    });
    started.emulator = emulator;
    // An empty gcloud config directory: a developer's own application-default credentials
    // would otherwise win over the metadata server (that is ADC's order).
    started.configDir = await mkdtemp(join(tmpdir(), 'cloud-run-auth-demo-'));

    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of SAMPLE_VARIABLES) delete base[name];
    // axios honours HTTP(S)_PROXY; calls between the services must stay on loopback.
    const noProxy = [base.NO_PROXY ?? base.no_proxy, '127.0.0.1', 'localhost'].filter(Boolean).join(',');
    Object.assign(base, {
      HOST: '127.0.0.1',
      GCE_METADATA_HOST: emulator.metadataHost,
      CLOUDSDK_CONFIG: started.configDir,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    });
    const ordersUrl = `http://127.0.0.1:${ordersPort}`;
    const spawned = [
      launch('orders', started, timeoutMs, {
        ...base,
        SAMPLE_SERVICE: 'orders',
        PORT: String(ordersPort),
        ORDERS_AUDIENCE: ordersUrl,
        ALLOWED_CALLERS: gatewayAccount,
        INBOUND_MODE: 'verify',
        CERTS_URL: emulator.certsUrl,
        // The guard logs the reason of every refusal at debug; the demo shows it.
        LOG_LEVEL: 'debug',
      }),
      launch('gateway', started, timeoutMs, {
        ...base,
        SAMPLE_SERVICE: 'gateway',
        PORT: String(gatewayPort),
        ORDERS_URL: ordersUrl,
      }),
    ];
    const [orders, gateway] = await Promise.all(spawned.map((s) => s.ready));
    const firstExit = Promise.race(spawned.map((s) => s.exited));
    return {
      emulator,
      gateway: gateway!,
      orders: orders!,
      gatewayAccount,
      ordersAudience: ordersUrl,
      firstExit,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The demo itself: one call through the gateway, which must succeed with the gateway's
 * identity, and three calls straight at orders that must be refused.
 */
export async function runScenario(demo: RunningDemo): Promise<DemoCheck[]> {
  const orderUrl = `${demo.orders.url}/orders/${DEMO_ORDER_ID}`;
  const genuineForGateway = demo.emulator.mintIdToken({ aud: demo.ordersAudience });
  const otherAccount = demo.emulator.mintIdToken({
    aud: demo.ordersAudience,
    email: INTRUDER_ACCOUNT,
    sub: '109876543210987654321',
    azp: '109876543210987654321',
  });
  const checks: DemoCheck[] = [];

  {
    const res = await call(`${demo.gateway.url}/orders/${DEMO_ORDER_ID}`);
    const body = res.body as {
      order?: { id?: string; item?: string; status?: string };
      caller?: { email?: string; signatureVerified?: boolean };
    };
    const caller = body?.caller;
    const passed = res.status === 200 && caller?.email === demo.gatewayAccount && caller?.signatureVerified === true;
    checks.push({
      name: 'through-gateway',
      description: `through the gateway, which calls orders with an ID token of ${demo.gatewayAccount}`,
      expectedStatus: 200,
      ...res,
      passed,
      outcome: passed
        ? `orders checked the token's signature and audience, saw caller ${caller!.email} ` +
          `and returned order ${body.order?.id} (${body.order?.item}, ${body.order?.status})`
        : `expected 200 with caller ${demo.gatewayAccount}, got ${res.status} ${summarize(res.body)}`,
    });
  }
  {
    const res = await call(orderUrl, undefined, demo.orders);
    checks.push(refusal('no-token', 'straight at orders, without a token', 401, res, 'refused: no token, no entry'));
  }
  {
    const res = await call(orderUrl, forgeToken(genuineForGateway), demo.orders);
    checks.push(
      refusal(
        'forged-token',
        `straight at orders, with a forged token: the gateway's claims, signed with a key Google never published`,
        401,
        res,
        "refused: the signature does not verify against Google's (here: the emulator's) public keys",
      ),
    );
  }
  {
    const res = await call(orderUrl, otherAccount, demo.orders);
    checks.push(
      refusal(
        'other-account',
        `straight at orders, with a genuine, correctly signed token of ${INTRUDER_ACCOUNT}`,
        403,
        res,
        'refused: the token is valid, but that caller is not in ALLOWED_CALLERS',
      ),
    );
  }
  return checks;
}

function refusal(
  name: DemoCheck['name'],
  description: string,
  expectedStatus: number,
  res: Response_,
  meaning: string,
): DemoCheck {
  const passed = res.status === expectedStatus;
  return {
    name,
    description,
    expectedStatus,
    ...res,
    passed,
    outcome: passed ? meaning : `expected ${expectedStatus}, got ${res.status} ${summarize(res.body)}`,
  };
}

interface Response_ {
  method: 'GET';
  url: string;
  status: number;
  body: unknown;
  wwwAuthenticate: string | null;
  loggedReason?: string;
}

/** GETs `url`; with `logger`, also picks up the reason code it logs for a refusal. */
async function call(url: string, token?: string, logger?: DemoService): Promise<Response_> {
  const logStart = logger?.output().length ?? 0;
  const response = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON; keep the text
  }
  const loggedReason = logger && response.status >= 400 ? await reasonLogged(logger, logStart) : undefined;
  return {
    method: 'GET',
    url,
    status: response.status,
    body,
    wwwAuthenticate: response.headers.get('www-authenticate'),
    loggedReason,
  };
}

/** The guard logs `reason=<code>` before answering; the line may reach us just after the response. */
async function reasonLogged(service: DemoService, from: number, waitMs = 1000): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const match = /reason=([a-z_]+)/.exec(service.output().slice(from));
    if (match || Date.now() >= deadline) return match?.[1];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function summarize(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

interface Launched {
  service: DemoService;
  ready: Promise<DemoService>;
  exited: Promise<DemoExit>;
}

function launch(
  name: ServiceName,
  started: { children: ChildProcess[] },
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Launched {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  started.children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const service: DemoService = { name, url: '', pid: child.pid ?? -1, output: () => output };
  const exited = new Promise<DemoExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ service, code, signal })),
  );
  const ready = new Promise<DemoService>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within ${timeoutMs} ms. Its output:\n${output}`)),
      timeoutMs,
    );
    child.on('message', (message: ListeningMessage) => {
      if (message?.type !== 'listening') return;
      clearTimeout(timer);
      service.url = message.url;
      resolve(service);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ServiceExitedError(name, code, signal, output));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  ready.catch(() => undefined);
  return { service, ready, exited };
}

async function shutdown(started: { children: ChildProcess[]; emulator?: Emulator; configDir?: string }): Promise<void> {
  await Promise.all(started.children.map(stopChild));
  await started.emulator?.close();
  if (started.configDir) await rm(started.configDir, { recursive: true, force: true });
}

/** SIGTERM (what Cloud Run sends), then SIGKILL if it has not exited within 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A service exited before it listened. */
export class ServiceExitedError extends Error {
  override readonly name = 'ServiceExitedError';
  constructor(
    readonly service: ServiceName,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    output: string,
  ) {
    super(`${service} exited (${signal ?? `code ${code}`}) before listening. Its output:\n${output}`);
  }
}

/** A fixed port of the demo is taken by another process. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly component: ServiceName | 'emulator',
    readonly port: number,
  ) {
    super(`port ${port} on 127.0.0.1 (for ${component}) is already in use`);
  }
}

/** `port` if it is free on 127.0.0.1, or a free one when `port` is 0. */
function reservePort(component: ServiceName, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(component, port) : error),
    );
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}
