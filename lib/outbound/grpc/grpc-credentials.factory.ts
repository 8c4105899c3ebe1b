import type { CallCredentials, ChannelCredentials } from '@grpc/grpc-js';
import { Logger } from '@nestjs/common';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject } from '../../shared/options/option.assertions.js';
import {
  resolveEndpoint,
  type ResolvedServiceDefinition,
  type ServiceDefinition,
} from '../service-definition.options.js';
import type { IdTokenCache } from '../token/id-token.cache.js';
import { IdTokenProvider } from '../token/id-token.provider.js';
import { createChannelCredentials } from './grpc-channel.credentials.js';
import { idTokenCallCredentials, type GrpcTokenTarget } from './id-token.call-credentials.js';

/** Options of {@link createGrpcCredentials} and {@link createIdTokenCallCredentials}. */
export interface GrpcCredentialsOptions extends Pick<
  ServiceDefinition,
  'audience' | 'tokenHeader' | 'allowInsecureHttp'
> {
  /**
   * The service's URL, e.g. `https://inventory-abc123-ew.a.run.app`: the default audience is its
   * origin, tokens go only to calls to its host, `https:` means TLS. `http:` only to loopback,
   * or to any host with `allowInsecureHttp`.
   */
  url: string;
  /** The identity that mints the tokens. @default the cache's own provider */
  tokenProvider?: IdTokenProvider;
}

const OPTION_KEYS = ['url', 'audience', 'tokenHeader', 'allowInsecureHttp', 'tokenProvider'];

/**
 * `ChannelCredentials` for a Cloud Run gRPC service, for plain `@grpc/grpc-js` clients: TLS (a
 * plain-text channel for an `http:` URL to loopback), with an ID token from `cache` on every call.
 * In a Nest application, declare the service with `transport: 'grpc'` and inject its credentials
 * with `@InjectGrpcCredentials(name)` instead.
 * @throws CloudRunAuthConfigError naming the option at fault.
 */
export function createGrpcCredentials(cache: IdTokenCache, options: GrpcCredentialsOptions): ChannelCredentials {
  return createChannelCredentials(checkCache(cache), resolveTarget(options));
}

/**
 * Only the call credentials of {@link createGrpcCredentials}, to compose with channel credentials
 * of your own, e.g. `credentials.createSsl(rootCerts).compose(callCredentials)`.
 * @throws CloudRunAuthConfigError naming the option at fault.
 */
export function createIdTokenCallCredentials(cache: IdTokenCache, options: GrpcCredentialsOptions): CallCredentials {
  return idTokenCallCredentials(checkCache(cache), resolveTarget(options));
}

/** The credentials behind `@InjectGrpcCredentials(service.name)`. */
export function createServiceGrpcCredentials(
  service: ResolvedServiceDefinition,
  cache: IdTokenCache,
): ChannelCredentials {
  const { name, url, audience, tokenHeader, tokenProvider, authenticate } = service;
  return createChannelCredentials(
    cache,
    { label: `services[${name}]`, url, audience, tokenHeader, tokenProvider, service: name },
    authenticate,
  );
}

function resolveTarget(options: GrpcCredentialsOptions): GrpcTokenTarget {
  assertObject(options as unknown, 'options');
  assertKnownKeys(options, OPTION_KEYS, 'options');
  const { tokenProvider } = options;
  if (tokenProvider !== undefined && !(tokenProvider instanceof IdTokenProvider)) {
    throw new CloudRunAuthConfigError(
      'must be an instance of a class extending IdTokenProvider',
      'options.tokenProvider',
    );
  }
  const { url, origin, audience, tokenHeader, insecureHttp } = resolveEndpoint(options, 'options');
  if (insecureHttp) {
    new Logger('CloudRunAuth').warn(
      `options.allowInsecureHttp: gRPC calls to ${origin} and their ID tokens travel in clear text ` +
        '(plain http to a host that is not loopback). For a local network only; refused on Cloud Run',
    );
  }
  return { label: 'options', url, audience, tokenHeader, tokenProvider };
}

function checkCache(cache: IdTokenCache): IdTokenCache {
  if (typeof (cache as Partial<IdTokenCache> | undefined)?.getToken !== 'function') {
    throw new CloudRunAuthConfigError('must be an IdTokenCache', 'cache');
  }
  return cache;
}
