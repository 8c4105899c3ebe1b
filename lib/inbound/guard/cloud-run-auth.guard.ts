import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  Optional,
  type CanActivate,
  type ExecutionContext,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import type { IncomingHttpHeaders } from 'node:http';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { describeAscii, nonAsciiIndex } from '../../shared/options/option.assertions.js';
import { InboundTelemetry } from '../inbound.telemetry.js';
import { OperatorLog } from '../../shared/telemetry/operator.log.js';
import { subjectEntry, type CallerAllowList } from '../allowed-callers.matcher.js';
import { setCallerIdentity } from '../caller-identity.store.js';
import { CLOUD_RUN_AUTH_INBOUND_OPTIONS } from '../inbound.constants.js';
import type { ResolvedInboundOptions } from '../inbound.options.js';
import type { CallerIdentity } from '../verifier/caller-identity.interface.js';
import { IapAssertionVerifier } from '../verifier/iap-assertion.verifier.js';
import { IdTokenVerifier } from '../verifier/id-token.verifier.js';
import { CachedDecision } from './cached-decision.js';
import {
  challengeFor,
  exceptionFor,
  rejectionForError,
  rejectionForHeader,
  type InboundRejection,
} from './inbound-rejection.js';
import { readGrpcTokenHeader, rpcExceptionFor } from './grpc-metadata.reader.js';
import { readIapAssertionHeader } from './iap-assertion.extractor.js';
import { graphqlRequest, graphqlResponse, grpcMetadata, identityCarrier } from '../request.extractor.js';
import { receivedAudience, rejectionHint } from './rejection.hints.js';
import { describeRoute, PROBE_HINT } from './probe-routes.js';
import { RouteMetadataReader, type RouteMetadata } from './route-metadata.reader.js';
import { bearerToken, readTokenHeader, type TokenHeader } from './token.extractor.js';

/** What the guard asks of the ID-token and IAP verifiers alike. */
type TokenVerifier = Pick<IdTokenVerifier, 'verify'>;

/** The parts of an HTTP request (Express, Fastify, Node) the guard reads. */
type HttpRequestLike = ReturnType<CloudRunAuthGuard['getRequest']>;

/**
 * Whether the token header was read as the client sent it (found once in the raw headers, or
 * gRPC metadata): only there can Cloud Run have checked a token whose signature it removed.
 */
type HeaderChecked = boolean;

/**
 * Verifies the Google ID token or, with `inbound.iap`, the IAP assertion of each request (see
 * `InboundOptions`) and enforces the caller allow-list: 401 for a missing or invalid token, 403
 * for a valid token of a caller not allowed on the route, 503 when signing keys cannot be obtained.
 *
 * Bind with `@UseGuards(CloudRunAuthGuard)`, or on every route with `inbound.mount: true`.
 * Extend it and override the protected hooks to adapt it (other request types, responses); a
 * subclass needs no constructor (what the guard uses is injected as properties), and is mounted
 * with `inbound.mount: MyGuard`. Using it without `inbound` options fails at boot.
 */
@Injectable()
export class CloudRunAuthGuard implements CanActivate, OnModuleInit {
  protected readonly logger = new Logger('CloudRunAuth');
  /**
   * The module's resolved `inbound` options; `null` without them (the guard then fails at boot).
   * @internal
   */
  @Optional() @Inject(CLOUD_RUN_AUTH_INBOUND_OPTIONS) protected readonly options!: ResolvedInboundOptions;
  /** Verifies ID tokens, built by the module from `inbound`. @internal */
  @Optional() @Inject(IdTokenVerifier) protected readonly verifier!: IdTokenVerifier;
  /** Reads `@SkipCloudRunAuth()` and `@AllowedCallers()`. */
  @Inject(Reflector) protected readonly reflector!: Reflector;
  /** Sets `WWW-Authenticate` on 401s and 403s; injected as a property, as everything the guard uses. */
  @Optional() @Inject(HttpAdapterHost) protected readonly adapterHost?: HttpAdapterHost;
  /** Metrics and span events of decisions; absent (`null`) when telemetry is off. @internal */
  @Optional() @Inject(InboundTelemetry) protected readonly telemetry?: InboundTelemetry | null;
  /** Verifies IAP assertions with `inbound.iap`; injected as a property for the same reason. */
  @Optional() @Inject(IapAssertionVerifier) protected iapVerifier?: IapAssertionVerifier | null;
  /** The route settings' reader and the fast path, made on first use (see {@link ready}). */
  private state: { routes: RouteMetadataReader; cached: CachedDecision } | undefined;
  /** One warning per refusal reason per minute, the rest at debug. */
  private readonly rejections = new OperatorLog(this.logger);
  /** Whether `getRequest()` is this class's own, whose request is where `@Caller()` reads. */
  private readonly defaultGetRequest = this.getRequest === CloudRunAuthGuard.prototype.getRequest;

  /**
   * Fails the boot, closed and loud, when the module has no `inbound` options: such a guard must
   * never let a request through. A subclass that overrides this calls `super.onModuleInit()`.
   */
  onModuleInit(): void {
    this.ready();
  }

  /**
   * What the guard works with, once the injected configuration is found complete; throws if it
   * is not. A guard that was not initialised (a testing module that was compiled but not
   * started) checks its configuration on its first request instead, so it fails closed just the same.
   */
  private ready(): { routes: RouteMetadataReader; cached: CachedDecision } {
    if (this.state) return this.state;
    if (!this.options || !this.verifier) {
      throw new CloudRunAuthConfigError(
        'CloudRunAuthGuard is used but CloudRunAuthModule has no inbound options; set inbound: { audience, allowedCallers }',
        'inbound',
      );
    }
    // Properties are injected after construction: read here, never in a constructor.
    const stockCallerCheck = this.checkCaller === CloudRunAuthGuard.prototype.checkCaller;
    return (this.state = {
      routes: new RouteMetadataReader(this.reflector),
      cached: new CachedDecision(stockCallerCheck, this.telemetry),
    });
  }

  /** The `@SkipCloudRunAuth()` and `@AllowedCallers()` settings of the route. */
  private routeSettings(context: ExecutionContext): RouteMetadata {
    return this.ready().routes.read(context);
  }

  /**
   * `true` synchronously for a skipped route, or for a token the verifier has already verified
   * (its verified-token cache) from a caller allowed on the route; a promise otherwise. Never
   * throws synchronously: refusals are rejections.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    try {
      if (this.shouldSkip(context)) return true;
      const type = context.getType<string>();
      if (type !== 'http' && type !== 'graphql') return this.activateOther(context, type);
      const request = this.getRequest(context);
      const headers = request.headers ?? {};
      const rawHeaders = this.getRawHeaders(request);
      const checked = rawHeaders !== undefined;
      const iapHeader = this.options.iap && readIapAssertionHeader(headers, this.options, rawHeaders);
      if (iapHeader) return this.verifyIapAndAuthorize(context, request, iapHeader);
      const header = readTokenHeader(headers, this.options.maxHeaderBytes, rawHeaders);
      // After the repetition and size checks, the cache is asked before the b64token check: a
      // cached token was accepted by verify(), whose decoder admits only b64token characters.
      const cached = 'value' in header ? this.ready().cached.ofBearerHeader(this.verifier, header.value) : undefined;
      if (cached) return this.authorize(context, request, checked, cached);
      return this.verifyAndAuthorize(context, request, checked, header);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `rpc` and `ws` contexts: gRPC calls read their metadata, other contexts need
   * `inbound.extractToken`. Refusals in `rpc` contexts are `RpcException`s (gRPC status codes for gRPC).
   */
  private async activateOther(context: ExecutionContext, type: string): Promise<boolean> {
    const metadata = grpcMetadata(context);
    try {
      if (metadata) {
        // Metadata is the call's HTTP/2 headers as the client sent them.
        return await this.verifyAndAuthorize(
          context,
          metadata,
          true,
          readGrpcTokenHeader(metadata, this.options.maxHeaderBytes),
        );
      }
      return await this.verifyExtracted(context, type);
    } catch (error) {
      throw type === 'rpc' ? await rpcExceptionFor(error, metadata !== undefined) : error;
    }
  }

  /** Verifies what `inbound.extractToken` returns; refuses (fails closed) without it. */
  private async verifyExtracted(context: ExecutionContext, type: string): Promise<boolean> {
    const extract = this.options.extractToken;
    const refuse = (reason: InboundRejection['reason'], detail: string) =>
      this.reject(context, { status: 401, reason, detail });
    if (!extract) {
      return refuse(
        'unsupported_context',
        `no token source for execution context type "${type}"; set inbound.extractToken to read one`,
      );
    }
    let value: unknown;
    try {
      value = extract(context);
    } catch (error) {
      const name = error instanceof Error ? error.name : typeof error;
      return refuse('malformed_header', `inbound.extractToken threw ${name}`);
    }
    if (value === undefined) return refuse('missing_token', `inbound.extractToken found no token (${type})`);
    if (typeof value !== 'string') return refuse('malformed_header', 'inbound.extractToken returned a non-string');
    if (value.length > this.options.maxHeaderBytes) {
      return refuse('header_too_large', 'inbound.extractToken returned more than maxHeaderBytes');
    }
    const header: TokenHeader = {
      value: /^bearer +/i.test(value) ? value : `Bearer ${value}`,
      header: 'authorization',
    };
    // Whatever extractToken read (message data, a handshake), Cloud Run cannot have checked it as a header.
    return this.verifyAndAuthorize(context, identityCarrier(context) ?? {}, false, header);
  }

  private async verifyAndAuthorize(
    context: ExecutionContext,
    request: object,
    checked: HeaderChecked,
    header: TokenHeader,
  ): Promise<boolean> {
    if ('failure' in header) return this.reject(context, rejectionForHeader(header.failure, header.header));
    const token = bearerToken(header.value);
    if (token === undefined) return this.reject(context, rejectionForHeader('malformed_header', header.header));
    return this.verifyWith(context, request, checked, this.verifier, token);
  }

  /** The same for an IAP assertion (a bare JWT): it decides alone, whatever other headers say. */
  private verifyIapAndAuthorize(context: ExecutionContext, request: object, header: TokenHeader): true | Promise<true> {
    if ('failure' in header) return this.reject(context, rejectionForHeader(header.failure, header.header));
    // Built here only when the guard was constructed outside dependency injection.
    const verifier = (this.iapVerifier ??= new IapAssertionVerifier(this.options.iap!));
    // IAP assertions are never stripped: whether the header was checked does not matter.
    const cached = this.ready().cached.ofToken(verifier, header.value);
    if (cached) return this.authorize(context, request, true, cached);
    return this.verifyWith(context, request, true, verifier, header.value);
  }

  /** Verifies `token` (timed for telemetry), then applies the route's allow-list; refusals are rejections. */
  private async verifyWith(
    context: ExecutionContext,
    request: object,
    checked: HeaderChecked,
    verifier: TokenVerifier,
    token: string,
  ): Promise<true> {
    const started = this.telemetry?.start();
    let identity: CallerIdentity;
    try {
      identity = await verifier.verify(token);
    } catch (error) {
      this.telemetry?.verified(started, false);
      return this.reject(context, this.toRejection(error));
    }
    this.telemetry?.verified(started, false);
    return this.authorize(context, request, checked, identity);
  }

  /**
   * Applies the route's allow-list to a verified identity and records it where `@Caller()` reads
   * it (and on `request`, when `getRequest()` returned another object); throws the refusal.
   */
  private authorize(
    context: ExecutionContext,
    request: object,
    checked: HeaderChecked,
    identity: CallerIdentity,
  ): true {
    if (!identity.signatureVerified && !checked) {
      this.reject(context, {
        status: 401,
        reason: 'stripped_token_unchecked',
        detail: 'a token whose signature Cloud Run removed was not read from a header the client sent',
      });
    }
    const allowList = this.getAllowList(context);
    const { cached } = this.ready();
    if (allowList && !cached.passedBefore(identity, allowList)) {
      const refusal = this.checkCaller(identity, allowList);
      if (refusal) this.reject(context, refusal);
      cached.passed(identity, allowList);
    }
    cached.allowed(request, identity);
    // The stock getRequest() returns the object @Caller() reads (a GraphQL operation without an
    // HTTP request never gets here: it has no token); an overridden one may return another.
    if (!this.defaultGetRequest) {
      const carrier = identityCarrier(context);
      if (carrier !== undefined && carrier !== request) setCallerIdentity(carrier, identity);
    }
    return true;
  }

  /**
   * Whether `@SkipCloudRunAuth()` applies: the route's own setting, else guarded when the route has
   * its own `@AllowedCallers()`, else the controller's setting.
   */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.routeSettings(context).skip;
  }

  /**
   * The HTTP request (Express `Request` or Fastify `FastifyRequest`) of an `http` or `graphql`
   * context (GraphQL: the context's `req`, or Mercurius' `reply.request`); `{}` (a 401) when there is none.
   */
  protected getRequest(context: ExecutionContext): {
    headers?: IncomingHttpHeaders;
    rawHeaders?: string[];
    raw?: { rawHeaders?: string[] };
  } {
    if (context.getType<string>() === 'graphql') return (graphqlRequest(context) ?? {}) as HttpRequestLike;
    // What switchToHttp().getRequest() returns, without the object switchToHttp() builds.
    return context.getArgByIndex<HttpRequestLike>(0);
  }

  /** Raw header list used to refuse repeated token headers. */
  protected getRawHeaders(request: {
    rawHeaders?: string[];
    raw?: { rawHeaders?: string[] };
  }): readonly string[] | undefined {
    return request.rawHeaders ?? request.raw?.rawHeaders;
  }

  /** The allow-list of the route: `@AllowedCallers()` on the route, else on the controller, else the module's. */
  protected getAllowList(context: ExecutionContext): CallerAllowList | undefined {
    return this.routeSettings(context).allowList ?? this.options.allowedCallers;
  }

  /**
   * `undefined` when `identity` passes `allowList` (by verified email, or by `sub:` entry), else the
   * refusal: always a 403, since the token itself is valid. A caller without a verified email that
   * no `sub:` entry names is `missing_email` / `email_not_verified`; any other is `caller_not_allowed`.
   */
  protected checkCaller(identity: CallerIdentity, allowList: CallerAllowList): InboundRejection | undefined {
    if (allowList.allows(identity)) return undefined;
    const { email, subject } = identity;
    if (email === undefined) {
      // Not a 401 invalid_token: on that, clients refresh and retry a token that can only fail again.
      const claimed = identity.claims.email;
      const unverified = typeof claimed === 'string' && claimed !== '';
      // A subject is an account's ID, not a credential: naming it tells the operator the entry to add.
      const entry = subjectEntry(subject);
      return {
        status: 403,
        reason: unverified ? 'email_not_verified' : 'missing_email',
        detail: `${unverified ? "the token's email is not verified" : 'the token has no "email"'}, so only a sub: entry of the allow-list can match its caller${entry ? ` ("${entry}")` : ''}`,
      };
    }
    // Escaped, so that a look-alike (U+212A KELVIN SIGN for "k") reads differently from what it imitates.
    const shown = describeAscii(email);
    return {
      status: 403,
      reason: 'caller_not_allowed',
      detail:
        nonAsciiIndex(email) >= 0
          ? `caller ${shown} has characters outside ASCII, which no allow-list entry matches: Google's emails are ASCII`
          : `caller ${shown} is not in the allow-list`,
    };
  }

  /** Maps an error of the verifier to a refusal (503 for `keys_unavailable`, else 401). */
  protected toRejection(error: unknown): InboundRejection {
    return rejectionForError(error);
  }

  /** Logs the refusal (reason code, never the token) and throws the matching `HttpException`. */
  protected reject(context: ExecutionContext, rejection: InboundRejection): never {
    this.telemetry?.rejected(rejection.reason, rejection.status);
    this.logRejection(context, rejection);
    if (rejection.status !== 503) {
      this.setHeader(context, 'WWW-Authenticate', challengeFor(rejection.reason, rejection.status));
    }
    throw this.createException(rejection);
  }

  /** The exception thrown for a refusal; bodies are generic so they cannot leak anything. */
  protected createException(rejection: InboundRejection): HttpException {
    return exceptionFor(rejection);
  }

  /**
   * Logs the first refusal of each reason in a minute at warn, the rest at debug: the reason, the
   * audiences expected and the one received (what an operator needs to fix a misconfigured
   * caller), what to check, and the detail.
   */
  protected logRejection(context: ExecutionContext, { status, reason, detail, audience }: InboundRejection): void {
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    const check =
      reason === 'missing_token' && describeRoute(context.getClass(), context.getHandler()).probe
        ? PROBE_HINT
        : rejectionHint(reason);
    this.rejections.report(
      `Rejected ${route} with ${status}`,
      {
        reason,
        audience: [...this.verifier.verification.options.audiences, ...(this.options.iap?.audiences ?? [])].join(','),
      },
      { received_audience: receivedAudience(audience), check, detail },
    );
  }

  private setHeader(context: ExecutionContext, name: string, value: string): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter) return;
    const type = context.getType<string>();
    if (type === 'http') adapter.setHeader(context.switchToHttp().getResponse(), name, value);
    else if (type === 'graphql') {
      const response = graphqlResponse(context);
      if (response) adapter.setHeader(response, name, value);
    }
  }
}
