import {
  CanceledError,
  type AxiosError,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { TargetRejectedTokenError } from '../../shared/errors/target-rejected-token.error.js';
import type { ResolvedServiceDefinition } from '../service-definition.options.js';
import type { IdTokenCache, IdTokenLease } from '../token/id-token.cache.js';
import { AdapterCheck } from './adapter.rule.js';

/** Set on the config of the one replay after a 401; a string key so that axios' mergeConfig keeps it. */
const RETRIED = 'cloudRunAuthRetried';
type TrackedConfig = InternalAxiosRequestConfig & { [RETRIED]?: boolean };

/**
 * Installs the ID-token interceptors on a service's axios instance:
 * - the token goes only to the service's own origin, judged on the request's final URL, and only
 *   through an adapter that lets it be stripped from a redirect that leaves that origin;
 * - waiting for a token honours the request's `signal` (axios' `CanceledError`) and `timeout`;
 * - a 401 to a request that carried a token drops that token and replays the request once (also
 *   when `validateStatus` accepts 401); a second 401, or one inside the rejection window that
 *   follows, is a `TargetRejectedTokenError` (or, when 401 is accepted, the response);
 * - tokens are redacted from the config and hidden request objects of responses and errors,
 *   so logging either does not leak one.
 */
export function installIdTokenInterceptors(
  instance: AxiosInstance,
  service: ResolvedServiceDefinition,
  cache: IdTokenCache,
): void {
  const header = service.tokenHeader;
  // The lease each request carried, off the config so that logging the config cannot show it.
  const leases = new WeakMap<object, IdTokenLease>();
  const adapters = new AdapterCheck();

  instance.interceptors.request.use(async (config: TrackedConfig) => {
    leases.delete(config);
    if (requestOrigin(config, service) !== service.origin) return config;
    const refusal = adapters.refusalOf(config.adapter);
    if (refusal)
      throw new CloudRunAuthConfigError(
        `the adapter of this request ${refusal}`,
        `services[${service.name}].http.adapter`,
      );
    const signal = config.signal instanceof AbortSignal ? config.signal : undefined;
    let lease: IdTokenLease;
    try {
      lease = await cache.lease(service.audience, {
        provider: service.tokenProvider,
        service: service.name,
        signal,
        timeoutMs: config.timeout || undefined,
      });
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw new CanceledError(undefined, config);
      throw error;
    }
    config.headers.set(header, `Bearer ${lease.token}`);
    leases.set(config, lease);
    const userBeforeRedirect = config.beforeRedirect;
    config.beforeRedirect = (
      options: { href?: string; headers?: Record<string, unknown> },
      responseDetails,
      requestDetails,
    ) => {
      if (originOf(options.href) !== service.origin) deleteHeader(options.headers, header);
      userBeforeRedirect?.(options, responseDetails, requestDetails);
    };
    return config;
  });

  /** After a 401 to a request that carried a token: the replay, or `undefined` when there is none. */
  const replayAfter401 = (config: TrackedConfig, lease: IdTokenLease): Promise<AxiosResponse> | undefined => {
    const replayed = config[RETRIED] === true;
    const worthIt = cache.reportRejected(service.audience, lease, replayed, service.tokenProvider, service.name);
    if (!worthIt || !isReplayable(config.data)) return undefined;
    return instance.request({ ...config, [RETRIED]: true } as TrackedConfig);
  };
  const whyNoReplay = (config: TrackedConfig) =>
    config[RETRIED]
      ? 'also to a freshly fetched token'
      : isReplayable(config.data)
        ? 'a fresh token was rejected moments ago'
        : 'the stream body was not replayed';

  instance.interceptors.response.use(
    (response: AxiosResponse) => {
      const config = response.config as TrackedConfig;
      const lease = response.status === 401 ? leases.get(config) : undefined;
      // validateStatus accepted the 401: replay all the same, and hand over the last answer.
      const replay = lease && replayAfter401(config, lease);
      return replay ? (redact(response, header), replay) : redact(response, header);
    },
    (error: AxiosError) => {
      const config = error.config as TrackedConfig | undefined;
      const lease = config && leases.get(config);
      if (!config || !lease || error.response?.status !== 401) throw redact(error, header);
      const replay = replayAfter401(config, lease);
      redact(error, header);
      if (replay) return replay;
      throw redact(new TargetRejectedTokenError(service.name, service.audience, whyNoReplay(config), error), header);
    },
  );
}

/** axios' own test for an absolute URL (`isAbsoluteURL`): a scheme, or a protocol-relative `//`. */
const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The origin axios will send `config` to, decided as axios' `buildFullPath` does: an absolute
 * `url` wins (unless `allowAbsoluteUrls` is false), else the URL is `baseURL` + '/' + `url`,
 * whose origin is `baseURL`'s. Query parameters cannot change an origin. Cheaper than
 * `instance.getUri()`, which merges the whole config again on every request.
 */
function requestOrigin(config: InternalAxiosRequestConfig, service: ResolvedServiceDefinition): string | undefined {
  const url = config.url ?? '';
  if (ABSOLUTE_URL.test(url) && config.allowAbsoluteUrls !== false) return originOf(url);
  if (!config.baseURL) return originOf(url);
  return config.baseURL === service.url ? service.origin : originOf(config.baseURL);
}

function originOf(url: string | undefined): string | undefined {
  try {
    return url === undefined ? undefined : new URL(url).origin;
  } catch {
    return undefined;
  }
}

function deleteHeader(headers: Record<string, unknown> | undefined, name: string): void {
  for (const key of Object.keys(headers ?? {})) if (key.toLowerCase() === name) delete headers![key];
}

/** Bodies that axios can send again as they are; streams are consumed by the first attempt. */
function isReplayable(data: unknown): boolean {
  if (data === undefined || data === null || typeof data === 'string' || Buffer.isBuffer(data)) return true;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data) || data instanceof URLSearchParams) return true;
  const candidate = data as { pipe?: unknown; getReader?: unknown; [Symbol.asyncIterator]?: unknown };
  return (
    typeof candidate.pipe !== 'function' &&
    typeof candidate.getReader !== 'function' &&
    !candidate[Symbol.asyncIterator]
  );
}

/**
 * Replaces the token in the config's headers and hides the raw request objects (whose
 * buffered header text holds it) from enumeration, so `console.log(error)` and
 * `JSON.stringify(error)` show no token. `request` stays readable as a property.
 */
function redact<T extends { config?: InternalAxiosRequestConfig; request?: unknown; response?: { request?: unknown } }>(
  target: T,
  header: string,
): T {
  if (target.config?.headers?.has(header)) target.config.headers.set(header, 'Bearer [REDACTED]');
  hide(target, 'request');
  if (target.response) hide(target.response, 'request');
  return target;
}

function hide(target: object, key: string): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor?.enumerable) Object.defineProperty(target, key, { ...descriptor, enumerable: false });
}
