import type { AxiosRequestConfig } from 'axios';
import type { IdTokenProvider } from '../outbound/token/id-token.provider.js';
import type { IdTokenCacheOptions } from '../outbound/token/id-token-cache.options.js';
import type { ResolvedInboundOptions } from '../inbound/inbound-options.interface.js';

/** A `ServiceDefinition` after validation, with defaults applied. */
export interface ResolvedServiceDefinition {
  name: string;
  url: string;
  /** Origin of `url`; the only origin tokens are sent to. */
  origin: string;
  audience: string;
  tokenHeader: 'authorization' | 'x-serverless-authorization';
  authenticate: boolean;
  http: AxiosRequestConfig;
  /** This service's own token provider when it has `credentials`; `undefined` means the module's. */
  tokenProvider?: IdTokenProvider;
}

/** The module's configuration after validation. */
export interface ResolvedCloudRunAuthOptions {
  services: Map<string, ResolvedServiceDefinition>;
  /** The module's provider: the `tokenProvider` option or Google's with the module's `credentials`. */
  tokenProvider: IdTokenProvider;
  tokenCache: IdTokenCacheOptions;
  prefetch: boolean;
  inbound?: ResolvedInboundOptions;
}
