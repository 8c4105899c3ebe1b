import { CallCredentials, ChannelCredentials, credentials } from '@grpc/grpc-js';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import type { IdTokenCache } from '../token/id-token.cache.js';
import { idTokenCallCredentials, type GrpcTokenTarget } from './id-token.call-credentials.js';

/**
 * The channel credentials of a gRPC service: TLS (the system's roots, or grpc-js's
 * `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`) for an `https:` URL, a plain-text channel for an `http:`
 * one (loopback, or a host let through by `allowInsecureHttp`), composed with call credentials
 * that put an ID token on every call, unless `authenticate` is `false`.
 * @throws CloudRunAuthConfigError when the installed grpc-js cannot carry tokens on a plain-text channel.
 */
export function createChannelCredentials(
  cache: IdTokenCache,
  target: GrpcTokenTarget,
  authenticate = true,
): ChannelCredentials {
  const tls = new URL(target.url).protocol === 'https:';
  const channel = tls ? credentials.createSsl() : credentials.createInsecure();
  if (!authenticate) return channel;
  const callCredentials = idTokenCallCredentials(cache, target);
  return tls ? channel.compose(callCredentials) : PlaintextChannelCredentials.create(callCredentials, target);
}

/**
 * A plain-text channel that carries call credentials. grpc-js refuses to compose them with
 * insecure credentials so that tokens do not cross a network in clear text; the module lets
 * them do so to the URLs its validation admits, as for HTTP: loopback, and hosts opted in with
 * `allowInsecureHttp` (refused on Cloud Run). Connects through grpc-js's own insecure connector.
 */
class PlaintextChannelCredentials extends ChannelCredentials {
  private readonly insecure = credentials.createInsecure();

  private constructor(private readonly callCredentials: CallCredentials) {
    super();
  }

  static create(callCredentials: CallCredentials, target: GrpcTokenTarget): PlaintextChannelCredentials {
    // Part of grpc-js's ChannelCredentials contract, which older versions implemented differently.
    if (typeof credentials.createInsecure()._createSecureConnector !== 'function') {
      throw new CloudRunAuthConfigError(
        'is plain http, and this version of @grpc/grpc-js cannot put call credentials on a plain-text channel; ' +
          'upgrade @grpc/grpc-js, or call the service over https',
        `${target.label}.url`,
      );
    }
    return new PlaintextChannelCredentials(callCredentials);
  }

  override compose(callCredentials: CallCredentials): ChannelCredentials {
    return new PlaintextChannelCredentials(this.callCredentials.compose(callCredentials));
  }

  override _isSecure(): boolean {
    return false;
  }

  override _equals(other: ChannelCredentials): boolean {
    return (
      other === this ||
      (other instanceof PlaintextChannelCredentials && this.callCredentials._equals(other.callCredentials))
    );
  }

  override _createSecureConnector(
    ...[channelTarget, options, callCredentials]: Parameters<ChannelCredentials['_createSecureConnector']>
  ): ReturnType<ChannelCredentials['_createSecureConnector']> {
    const combined = this.callCredentials.compose(callCredentials ?? CallCredentials.createEmpty());
    return this.insecure._createSecureConnector(channelTarget, options, combined);
  }
}
