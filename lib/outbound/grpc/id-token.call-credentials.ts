import { CallCredentials, Metadata, status } from '@grpc/grpc-js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import type { IdTokenCache } from '../token/id-token.cache.js';
import type { IdTokenProvider } from '../token/id-token.provider.js';

/** The service that call credentials put ID tokens on calls to. */
export interface GrpcTokenTarget {
  /** Names the configuration in messages: `services[inventory]`. */
  readonly label: string;
  /** The service's URL; calls to another host get no token. */
  readonly url: string;
  readonly audience: string;
  readonly tokenHeader: 'authorization' | 'x-serverless-authorization';
  /** The identity; `undefined`: the cache's own provider. */
  readonly tokenProvider?: IdTokenProvider;
  /** The service's name, for metrics and operator logs; `undefined` for plain grpc-js credentials. */
  readonly service?: string;
}

/**
 * gRPC call credentials that put `Bearer <ID token>` for `target.audience`, from the shared
 * cache (single-flight, refresh-ahead), in `target.tokenHeader` of every call whose host is
 * `target.url`'s. Failures end the call with a status and no token: no token to be had →
 * `UNAVAILABLE`; a call to another host → `UNAUTHENTICATED`, before any token is fetched.
 */
export function idTokenCallCredentials(cache: IdTokenCache, target: GrpcTokenTarget): CallCredentials {
  const host = bareHost(new URL(target.url).hostname);
  return CallCredentials.createFromMetadataGenerator(({ service_url }, callback) => {
    const callHost = hostOfServiceUrl(service_url);
    if (callHost !== host) {
      callback(
        statusError(
          status.UNAUTHENTICATED,
          `${target.label}: this call goes to ${callHost ?? 'an unknown host'}, not to ${host} (the host of its url), ` +
            'so no ID token was attached',
        ),
      );
      return;
    }
    cache.getToken(target.audience, { provider: target.tokenProvider, service: target.service }).then(
      (token) => {
        const metadata = new Metadata();
        metadata.set(target.tokenHeader, `Bearer ${token}`);
        callback(null, metadata);
      },
      (error: unknown) => {
        // IdTokenFetchError messages name the audience, never a token; others are not repeated.
        const reason = error instanceof IdTokenFetchError ? error.message : 'the token cache failed';
        callback(statusError(status.UNAVAILABLE, `${target.label}: no ID token: ${reason}`));
      },
    );
  });
}

/** An error grpc-js ends the call with: `code` is the status, the message goes into its details. */
function statusError(code: status, message: string): Error & { code: status } {
  return Object.assign(new Error(message), { code });
}

/**
 * The host of grpc-js's `service_url` (`https://<host>/<service>`, the call's authority
 * without its port), lowercase and without IPv6 brackets; `undefined` if it has none.
 */
function hostOfServiceUrl(serviceUrl: string): string | undefined {
  const match = /^https?:\/\/(.+)\/[^/]*$/.exec(serviceUrl);
  return match ? bareHost(match[1]!) : undefined;
}

function bareHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}
