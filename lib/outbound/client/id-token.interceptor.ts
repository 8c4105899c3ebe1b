import type { AxiosError, AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { IdTokenCache } from '../token/id-token.cache.js';
import type { ResolvedServiceDefinition } from '../service-definition.interface.js';

/** Set on the config of the one replay after a 401; a string key so that axios' mergeConfig keeps it. */
const RETRIED = 'cloudRunAuthRetried';
type TrackedConfig = InternalAxiosRequestConfig & { [RETRIED]?: boolean };

/**
 * Installs the ID-token interceptors on a service's axios instance:
 * - the token goes only to the service's own origin, judged on the request's final URL;
 * - it is stripped from any redirect that leaves that origin;
 * - a 401 to a request that carried a token drops that token and replays the request once;
 * - tokens are redacted from the config and hidden request objects of responses and errors,
 *   so logging either does not leak one.
 */
export function installIdTokenInterceptors(
  instance: AxiosInstance,
  service: ResolvedServiceDefinition,
  cache: IdTokenCache,
): void {
  const header = service.tokenHeader;
  // The token each request carried, off the config so that logging the config cannot show it.
  const sentTokens = new WeakMap<object, string>();

  instance.interceptors.request.use(async (config: TrackedConfig) => {
    sentTokens.delete(config);
    if (requestOrigin(config, service) !== service.origin) return config;
    const token = await cache.getToken(service.audience, service.tokenProvider);
    config.headers.set(header, `Bearer ${token}`);
    sentTokens.set(config, token);
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

  instance.interceptors.response.use(
    (response: AxiosResponse) => redact(response, header),
    async (error: AxiosError) => {
      const config = error.config as TrackedConfig | undefined;
      const token = config && sentTokens.get(config);
      if (config && token && error.response?.status === 401 && !config[RETRIED] && isReplayable(config.data)) {
        cache.invalidate(service.audience, token, service.tokenProvider);
        redact(error, header);
        return instance.request({ ...config, [RETRIED]: true } as TrackedConfig);
      }
      throw redact(error, header);
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
