import axios from 'axios';
import type { IdTokenCache } from '../token/id-token.cache.js';
import type { ResolvedServiceDefinition } from '../service-definition.options.js';
import { installIdTokenInterceptors } from './id-token.interceptor.js';
import { ServiceClient } from './service-client.js';

/** Builds the `ServiceClient` of one service: its own axios instance, sharing the token cache. */
export function createServiceClient(service: ResolvedServiceDefinition, cache: IdTokenCache): ServiceClient {
  const instance = axios.create({ ...service.http, baseURL: service.url });
  if (service.authenticate) installIdTokenInterceptors(instance, service, cache);
  return new ServiceClient(instance, service);
}
