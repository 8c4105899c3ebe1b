import type { AxiosRequestConfig } from 'axios';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { assertKnownKeys, assertObject, isLoopbackUrl, resolveSecureUrl } from '../shared/options/option.assertions.js';
import { cloudRunVariable } from '../shared/runtime/cloud-run.env.js';
import { adapterRefusal } from './client/adapter.rule.js';
import { validateCredentials, type CredentialsOptions } from './credentials/credentials.options.js';
import type { IdTokenProvider } from './token/id-token.provider.js';
import type { TokenProviderRegistry } from './token/token-provider.registry.js';

/** How a service is called: HTTP through a `ServiceClient`, or gRPC with call credentials. */
export type ServiceTransport = 'http' | 'grpc';

/** One target service the application calls. */
export interface ServiceDefinition {
  /**
   * Name used with `@InjectServiceClient(name)` (or `@InjectGrpcCredentials(name)` for
   * `transport: 'grpc'`); unique within the application.
   */
  name: string;
  /**
   * Base URL of the service, e.g. `https://orders-abc-uc.a.run.app`. `http:` only for loopback
   * (`localhost`, `127.0.0.1`, `::1`), or to any host with `allowInsecureHttp`. For gRPC: the
   * service's URL as Cloud Run shows it; its host is the only host the call credentials send
   * tokens to, and `https:` means TLS, `http:` a plain-text channel.
   */
  url: string;
  /**
   * `'http'`: the service gets a `ServiceClient` (`@InjectServiceClient(name)`). `'grpc'`: it
   * gets gRPC `ChannelCredentials` (`@InjectGrpcCredentials(name)`) that put an ID token on every
   * call; needs the optional peer `@grpc/grpc-js`, loaded only then.
   * @default 'http'
   */
  transport?: 'http' | 'grpc';
  /** `aud` of the ID tokens sent to it. @default the origin of `url` (what Cloud Run accepts) */
  audience?: string;
  /**
   * Header that carries the token. `x-serverless-authorization` leaves `Authorization`
   * to the application; Cloud Run checks `X-Serverless-Authorization` first when both are sent.
   * @default 'authorization'
   */
  tokenHeader?: 'authorization' | 'x-serverless-authorization';
  /** Send ID tokens at all; `false` for a local, unauthenticated target. @default true */
  authenticate?: boolean;
  /**
   * Identity used for this service only, merged over the module's `credentials`; e.g.
   * `{ impersonate: 'orders-caller@p.iam.gserviceaccount.com' }` for least privilege.
   * @default the module's credentials
   */
  credentials?: CredentialsOptions;
  /**
   * Extra axios configuration of this client (timeouts, headers, …); `baseURL` comes from `url`.
   * For `transport: 'http'` only.
   * @default {}
   */
  http?: AxiosRequestConfig;
  /**
   * Allow a plain `http:` `url` to a host that is not loopback, e.g. `http://orders:8080` in a
   * docker compose network: requests **and their ID tokens** then cross that network in clear
   * text. For local networks only: refused at boot on Cloud Run (`K_SERVICE` or `CLOUD_RUN_JOB`
   * set), and a warning is logged at boot for each service it lets through. Changes nothing
   * else: `https:` and loopback URLs, and the credential endpoints, keep their rules.
   * @default false
   */
  allowInsecureHttp?: boolean;
}

/** A `ServiceDefinition` after validation, with defaults applied (frozen). */
export interface ResolvedServiceDefinition {
  readonly name: string;
  readonly url: string;
  readonly transport: ServiceTransport;
  /** Origin of `url`; the only origin tokens are sent to. */
  readonly origin: string;
  readonly audience: string;
  readonly tokenHeader: 'authorization' | 'x-serverless-authorization';
  readonly authenticate: boolean;
  readonly http: Readonly<AxiosRequestConfig>;
  /** `url` is plain `http:` to a host that is not loopback, let through by `allowInsecureHttp`. */
  readonly insecureHttp: boolean;
  /** The identity that mints this service's tokens: the module's, or its own `credentials`'. */
  readonly tokenProvider: IdTokenProvider;
}

const SERVICE_KEYS = [
  'name',
  'url',
  'transport',
  'audience',
  'tokenHeader',
  'authenticate',
  'credentials',
  'http',
  'allowInsecureHttp',
];

/**
 * Validates a list of service definitions (of `forRoot` or of one `forFeature`) and applies
 * defaults; each service gets its identity from `identities`.
 * @throws CloudRunAuthConfigError naming the service and field (`services[orders].url`).
 */
export function resolveServiceDefinitions(
  list: unknown,
  identities: TokenProviderRegistry,
): Map<string, ResolvedServiceDefinition> {
  if (!Array.isArray(list)) throw new CloudRunAuthConfigError('must be an array of service definitions', 'services');
  const services = new Map<string, ResolvedServiceDefinition>();
  list.forEach((definition: ServiceDefinition, index) => {
    const service = resolveService(definition, index, identities);
    if (services.has(service.name)) {
      throw new CloudRunAuthConfigError(`duplicate service name "${service.name}"`, `services[${service.name}].name`);
    }
    services.set(service.name, service);
  });
  return services;
}

function resolveService(
  definition: ServiceDefinition,
  index: number,
  identities: TokenProviderRegistry,
): ResolvedServiceDefinition {
  assertObject(definition as unknown, `services[${index}]`);
  const { name } = definition;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new CloudRunAuthConfigError('must be a non-empty string', `services[${index}].name`);
  }
  const at = `services[${name}]`;
  assertKnownKeys(definition, SERVICE_KEYS, at);
  const { url, origin, audience, tokenHeader, insecureHttp } = resolveEndpoint(definition, at);
  if (definition.authenticate !== undefined && typeof definition.authenticate !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', `${at}.authenticate`);
  }
  const transport = definition.transport ?? 'http';
  if (transport !== 'http' && transport !== 'grpc') {
    throw new CloudRunAuthConfigError(`must be 'http' or 'grpc'`, `${at}.transport`);
  }
  if (transport === 'grpc' && definition.http !== undefined) {
    throw new CloudRunAuthConfigError(
      "configures the axios client of transport 'http'; a gRPC service has none",
      `${at}.http`,
    );
  }
  const http = definition.http ?? {};
  assertObject(http, `${at}.http`);
  if ('baseURL' in http) throw new CloudRunAuthConfigError('is taken from url; set url instead', `${at}.http.baseURL`);
  const refusal = definition.authenticate === false ? undefined : adapterRefusal(http.adapter);
  if (refusal) throw new CloudRunAuthConfigError(`this adapter ${refusal}`, `${at}.http.adapter`);
  if (definition.credentials !== undefined && identities.customProvider) {
    throw new CloudRunAuthConfigError('cannot be combined with a custom tokenProvider', `${at}.credentials`);
  }
  return Object.freeze({
    name,
    url,
    transport,
    origin,
    audience,
    tokenHeader,
    authenticate: definition.authenticate ?? true,
    http: Object.freeze({ ...http }),
    insecureHttp,
    tokenProvider: identities.forService(validateCredentials(definition.credentials, `${at}.credentials`)),
  });
}

/** Where a service's tokens go, validated: {@link resolveEndpoint}'s result. */
export interface ResolvedEndpoint {
  /** The URL as given. */
  url: string;
  origin: string;
  audience: string;
  tokenHeader: 'authorization' | 'x-serverless-authorization';
  /** `url` is plain `http:` to a host that is not loopback, let through by `allowInsecureHttp`. */
  insecureHttp: boolean;
}

/**
 * Validates the fields that decide where tokens go and what they say: `url` (https, or http to
 * loopback or with `allowInsecureHttp`; no credentials in it), `audience` (default: the URL's
 * origin) and `tokenHeader`.
 * @param at the prefix of fields in errors, e.g. `services[orders]`.
 * @throws CloudRunAuthConfigError naming the field.
 */
export function resolveEndpoint(
  definition: Pick<ServiceDefinition, 'url' | 'audience' | 'tokenHeader' | 'allowInsecureHttp'>,
  at: string,
): ResolvedEndpoint {
  const allowInsecureHttp = checkAllowInsecureHttp(definition.allowInsecureHttp, `${at}.allowInsecureHttp`);
  // ID tokens must not cross a network in clear text, unless this service opted in off Cloud Run.
  const url = resolveSecureUrl(definition.url, `${at}.url`, {
    allowInsecureHttp,
    insecureHttpHint: 'on a local network (e.g. docker compose) set allowInsecureHttp: true on this service',
  });
  if (url.username || url.password) {
    throw new CloudRunAuthConfigError('must not contain credentials', `${at}.url`);
  }
  const audience = definition.audience ?? url.origin;
  if (typeof audience !== 'string' || audience.trim() === '') {
    throw new CloudRunAuthConfigError('must be a non-empty string', `${at}.audience`);
  }
  const tokenHeader = definition.tokenHeader ?? 'authorization';
  if (tokenHeader !== 'authorization' && tokenHeader !== 'x-serverless-authorization') {
    throw new CloudRunAuthConfigError(`must be 'authorization' or 'x-serverless-authorization'`, `${at}.tokenHeader`);
  }
  return {
    url: definition.url,
    origin: url.origin,
    audience,
    tokenHeader,
    insecureHttp: url.protocol === 'http:' && !isLoopbackUrl(url),
  };
}

/** `allowInsecureHttp` as a boolean; refused on Cloud Run, where every service has an https URL. */
function checkAllowInsecureHttp(value: unknown, field: string): boolean {
  if (value === undefined || value === false) return false;
  if (value !== true) throw new CloudRunAuthConfigError('must be a boolean', field);
  const onCloudRun = cloudRunVariable();
  if (onCloudRun) {
    throw new CloudRunAuthConfigError(
      `is refused on Cloud Run (${onCloudRun} is set): ID tokens must not cross a network in clear text; ` +
        'call the service by its https URL and remove this option from the deployed configuration',
      field,
    );
  }
  return true;
}
