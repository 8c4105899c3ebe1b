/**
 * The sample's whole configuration comes from environment variables, the way a Cloud Run
 * service is configured (`gcloud run deploy --set-env-vars ...`). Nothing here knows about
 * the local demo; the demo just sets the same variables.
 */

export type ServiceName = 'gateway' | 'orders';
const SERVICES: readonly ServiceName[] = ['gateway', 'orders'];

/** A missing or malformed variable; the message names it and says what to set. */
export class SampleConfigError extends Error {
  override readonly name = 'SampleConfigError';
}

export type LogLevelName = 'error' | 'warn' | 'log' | 'debug' | 'verbose';
const LOG_LEVELS: readonly LogLevelName[] = ['error', 'warn', 'log', 'debug', 'verbose'];

export interface CommonConfig {
  /** `PORT`: Cloud Run sets it (8080). */
  port: number;
  /** `HOST`: interface to listen on. @default all interfaces (what Cloud Run needs) */
  host?: string;
  /** `LOG_LEVEL`: most verbose level logged; `debug` shows why the guard refused a request. @default 'log' */
  logLevel: LogLevelName;
}

export interface GatewayConfig extends CommonConfig {
  /** `ORDERS_URL`: base URL of the orders service. */
  ordersUrl: string;
  /** `ORDERS_AUDIENCE`: `aud` of the tokens sent to orders. @default the origin of `ORDERS_URL` */
  ordersAudience?: string;
}

export interface OrdersConfig extends CommonConfig {
  /** `ORDERS_AUDIENCE`: accepted `aud` values, comma-separated; the orders service's own URL. */
  audience: string[];
  /** `ALLOWED_CALLERS`: caller emails allowed, comma-separated; `*@project.iam.gserviceaccount.com` patterns work. */
  allowedCallers: string[];
  /** `INBOUND_MODE`: `verify` (default) or `cloud-run-iam`. */
  mode: 'verify' | 'cloud-run-iam';
  /** `CERTS_URL`: JWKS to verify signatures with. @default Google's */
  certsUrl?: string;
}

/** The levels Nest logs for `level`: it and every more severe one. */
export function logLevelsUpTo(level: LogLevelName): LogLevelName[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}

/**
 * Which service this process runs: `SAMPLE_SERVICE`, else Cloud Run's `K_SERVICE` when it is
 * `gateway` or `orders`; `undefined` when neither is set (the local demo).
 */
export function selectService(env: NodeJS.ProcessEnv): ServiceName | undefined {
  const explicit = env.SAMPLE_SERVICE?.trim();
  if (explicit) {
    if ((SERVICES as readonly string[]).includes(explicit)) return explicit as ServiceName;
    throw new SampleConfigError(
      `SAMPLE_SERVICE must be one of ${SERVICES.join(', ')}, got ${JSON.stringify(explicit)}`,
    );
  }
  const kService = env.K_SERVICE?.trim();
  if (kService) {
    if ((SERVICES as readonly string[]).includes(kService)) return kService as ServiceName;
    throw new SampleConfigError(
      `running on Cloud Run as service ${JSON.stringify(kService)}: set SAMPLE_SERVICE=gateway or SAMPLE_SERVICE=orders ` +
        '(gcloud run deploy ... --set-env-vars SAMPLE_SERVICE=...)',
    );
  }
  return undefined;
}

/** The configuration of `service`, read and validated from `env`. */
export type ServiceConfig = { service: 'gateway'; config: GatewayConfig } | { service: 'orders'; config: OrdersConfig };

export function readServiceConfig(service: ServiceName, env: NodeJS.ProcessEnv): ServiceConfig {
  return service === 'gateway'
    ? { service, config: readGatewayConfig(env) }
    : { service, config: readOrdersConfig(env) };
}

export function readGatewayConfig(env: NodeJS.ProcessEnv): GatewayConfig {
  const ordersUrl = required(
    env,
    'ORDERS_URL',
    'the URL of the orders service, e.g. https://orders-123456789.europe-west1.run.app',
  );
  try {
    new URL(ordersUrl);
  } catch {
    throw new SampleConfigError(`ORDERS_URL must be an absolute URL, got ${JSON.stringify(ordersUrl)}`);
  }
  return { ...common(env), ordersUrl, ordersAudience: optional(env, 'ORDERS_AUDIENCE') };
}

export function readOrdersConfig(env: NodeJS.ProcessEnv): OrdersConfig {
  const audience = list(
    required(env, 'ORDERS_AUDIENCE', "this service's own URL, which callers use as the token audience"),
  );
  const allowedCallers = list(
    required(
      env,
      'ALLOWED_CALLERS',
      'the service account email(s) allowed to call, e.g. gateway@PROJECT.iam.gserviceaccount.com',
    ),
  );
  const mode = optional(env, 'INBOUND_MODE') ?? 'verify';
  if (mode !== 'verify' && mode !== 'cloud-run-iam') {
    throw new SampleConfigError(`INBOUND_MODE must be verify or cloud-run-iam, got ${JSON.stringify(mode)}`);
  }
  return { ...common(env), audience, allowedCallers, mode, certsUrl: optional(env, 'CERTS_URL') };
}

function common(env: NodeJS.ProcessEnv): CommonConfig {
  const raw = optional(env, 'PORT') ?? '8080';
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port > 65535)
    throw new SampleConfigError(`PORT must be a port number, got ${JSON.stringify(raw)}`);
  const logLevel = (optional(env, 'LOG_LEVEL') ?? 'log') as LogLevelName;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new SampleConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  return { port, host: optional(env, 'HOST'), logLevel };
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function required(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = optional(env, name);
  if (!value) throw new SampleConfigError(`${name} is not set: set it to ${what}`);
  return value;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
