import {
  DEMO_ORDER_ID,
  PortInUseError,
  runScenario,
  ServiceExitedError,
  startDemo,
  type DemoCheck,
  type RunningDemo,
} from './demo.js';

const PORT_VARIABLES = {
  gateway: 'DEMO_GATEWAY_PORT',
  orders: 'DEMO_ORDERS_PORT',
  emulator: 'DEMO_EMULATOR_PORT',
} as const;
const DEFAULT_PORTS = { gateway: 8080, orders: 8081, emulator: 8090 } as const;

const write = (text = '') => process.stdout.write(`${text}\n`);

/**
 * `npm start` on a laptop: starts the emulator and both services on 127.0.0.1, runs the
 * scenario, prints what happened, then stays up until Ctrl-C (or SIGTERM) and stops everything.
 * Ports: 8080 (gateway), 8081 (orders), 8090 (emulator); override with DEMO_GATEWAY_PORT,
 * DEMO_ORDERS_PORT, DEMO_EMULATOR_PORT (0 for any free port).
 */
export async function runDemoCli(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Output piped into something that went away (e.g. `| head`) must not crash the demo.
  process.stdout.on('error', () => undefined);
  const ports = {
    gateway: portFromEnv(env, 'gateway'),
    orders: portFromEnv(env, 'orders'),
    emulator: portFromEnv(env, 'emulator'),
  };

  // Ctrl-C may come at any time, even while the services are still starting.
  let demo: RunningDemo | undefined;
  let stopRequested: NodeJS.Signals | undefined;
  let wakeUp: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (wakeUp = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested) process.exit(130); // second Ctrl-C: do not wait any longer
    stopRequested = signal;
    wakeUp();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  write('Starting the Cloud Run auth emulator and two NestJS services on 127.0.0.1 ...');
  try {
    demo = await startDemo({ ports });
  } catch (error) {
    if (stopRequested) return stop(undefined, stopRequested);
    if (error instanceof ServiceExitedError && (error.signal === 'SIGINT' || error.signal === 'SIGTERM')) {
      return stop(undefined, error.signal); // Ctrl-C reached a service before this process
    }
    if (error instanceof PortInUseError) {
      process.stderr.write(
        `\n${error.message}. Stop whatever uses it, or pick another port: ` +
          `${PORT_VARIABLES[error.component]}=<port> npm start (0 = any free port).\n`,
      );
    } else {
      process.stderr.write(`\nThe demo could not start: ${(error as Error).message}\n`);
    }
    process.exitCode = 1;
    return;
  }
  if (stopRequested) return stop(demo, stopRequested);

  write();
  write(`  emulator  ${demo.emulator.url}   metadata server and Google certs; signs real RS256 ID tokens`);
  write(`  orders    ${demo.orders.url}   CloudRunAuthGuard; allows only ${demo.gatewayAccount}`);
  write(`  gateway   ${demo.gateway.url}   calls orders through @InjectServiceClient('orders')`);
  write();

  const checks = await runScenario(demo).catch((error: Error) => {
    process.stderr.write(`The demo calls failed: ${error.message}\n`);
    return undefined;
  });
  if (checks) checks.forEach((check, index) => printCheck(check, index + 1));
  if (!checks || checks.some((check) => !check.passed)) {
    write('Something did not behave as it should. Output of the services:');
    write(indent(`[orders]\n${demo.orders.output()}\n[gateway]\n${demo.gateway.output()}`));
    await demo.close();
    process.exitCode = 1;
    return;
  }

  write(
    `All ${checks.length} calls behaved as expected: the gateway's signed token was accepted, everything else refused.`,
  );
  write();
  write('Try it yourself:');
  for (const line of curlLines(demo)) write(line ? `  ${line}` : '');
  write();
  write('Ctrl-C stops the emulator and both services.');

  const exit = await Promise.race([stopped.then(() => undefined), demo.firstExit]);
  if (exit && !stopRequested) {
    // Ctrl-C in a terminal reaches the whole process group, so a service may see it first.
    const interrupted = exit.signal === 'SIGINT' || exit.signal === 'SIGTERM';
    if (!interrupted) {
      const how = exit.signal ?? `exit code ${exit.code}`;
      process.stderr.write(
        `\n${exit.service.name} stopped unexpectedly (${how}). Its output:\n${indent(exit.service.output())}\n`,
      );
      await demo.close();
      process.exitCode = 1;
      return;
    }
    return stop(demo, exit.signal!);
  }
  return stop(demo, stopRequested ?? 'SIGTERM');
}

async function stop(demo: RunningDemo | undefined, signal: NodeJS.Signals): Promise<void> {
  await demo?.close();
  write(`\nStopped (${signal}): emulator, gateway and orders are shut down.`);
  process.exitCode = 0;
}

function printCheck(check: DemoCheck, number: number): void {
  const verdict = check.passed ? 'as expected' : `UNEXPECTED (wanted ${check.expectedStatus})`;
  write(`${number}. ${check.method} ${check.url}`);
  write(`   ${check.description}`);
  write(`   -> ${check.status} ${statusText(check.status)}, ${verdict}: ${check.outcome}`);
  if (check.wwwAuthenticate) write(`      WWW-Authenticate: ${check.wwwAuthenticate}`);
  if (check.loggedReason) write(`      orders logged: reason=${check.loggedReason}`);
  write();
}

function curlLines(demo: RunningDemo): string[] {
  const identity =
    `${demo.emulator.url}/computeMetadata/v1/instance/service-accounts/default/identity` +
    `?audience=${demo.ordersAudience}&format=full`;
  const rows: [string, string][] = [
    [`curl ${demo.gateway.url}/orders/${DEMO_ORDER_ID}`, "through the gateway: 200 with the caller's identity"],
    [`curl ${demo.gateway.url}/whoami`, "the gateway's service account, from the metadata server"],
    [`curl -i ${demo.orders.url}/orders/${DEMO_ORDER_ID}`, 'straight at orders without a token: 401'],
    [`curl ${demo.orders.url}/health`, 'public route (@SkipCloudRunAuth): 200'],
  ];
  const width = Math.max(...rows.map(([command]) => command.length));
  return [
    ...rows.map(([command, comment]) => `${command.padEnd(width)}   # ${comment}`),
    '',
    '# a token of the gateway, straight from the emulator, used by hand: 200',
    `TOKEN=$(curl -s -H 'Metadata-Flavor: Google' '${identity}')`,
    `curl -H "Authorization: Bearer $TOKEN" ${demo.orders.url}/orders/1002`,
  ];
}

function statusText(status: number): string {
  return (
    (
      {
        200: 'OK',
        401: 'Unauthorized',
        403: 'Forbidden',
        404: 'Not Found',
        502: 'Bad Gateway',
        503: 'Service Unavailable',
      } as Record<number, string>
    )[status] ?? ''
  );
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

function portFromEnv(env: NodeJS.ProcessEnv, component: keyof typeof PORT_VARIABLES): number {
  const name = PORT_VARIABLES[component];
  const raw = env[name]?.trim();
  if (!raw) return DEFAULT_PORTS[component];
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw new Error(`${name} must be a port number (0 for any free port), got ${JSON.stringify(raw)}`);
  }
  return port;
}
