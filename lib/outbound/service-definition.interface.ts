import type { AxiosRequestConfig } from 'axios';
import type { CredentialsOptions } from './credentials/credentials-options.interface.js';
import type { IdTokenProvider } from './token/id-token.provider.js';

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
  transport?: ServiceTransport;
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
