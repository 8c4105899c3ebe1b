import {
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import type { ResolvedCloudRunAuthOptions } from '../config/resolved-options.interface.js';
import { CloudRunAuthConfigError } from '../errors/config.error.js';
import { CLOUD_RUN_AUTH_CONFIG } from '../module/cloud-run-auth.constants.js';
import type { CallerIdentity } from '../verify/caller-identity.interface.js';
import { IdTokenVerifier } from '../verify/id-token.verifier.js';
import { TokenVerificationError, type TokenRejectionReason } from '../verify/token-verification.error.js';
import type { CallerAllowList } from './allowed-callers.matcher.js';
import { setCallerIdentity } from './caller.decorator.js';
import type { ResolvedInboundOptions } from './inbound-options.interface.js';
import { ALLOWED_CALLERS_METADATA, SKIP_CLOUD_RUN_AUTH_METADATA } from './inbound.constants.js';
import { extractBearerToken, type RequestHeaders, type TokenExtractionFailure } from './token.extractor.js';

/** Why the guard refused a request: a token rejection, a header problem, or the allow-list. */
export type InboundRejectionReason = TokenRejectionReason | TokenExtractionFailure | 'caller_not_allowed' | 'verification_error';

/** A refusal, handed to {@link CloudRunAuthGuard.reject}. */
export interface InboundRejection {
  /** 401 (no acceptable token), 403 (caller not allowed) or 503 (signing keys unavailable). */
  status: 401 | 403 | 503;
  reason: InboundRejectionReason;
  /** Operator-facing detail for the log line; never contains the token. */
  detail: string;
}

interface HttpRequestLike {
  headers?: RequestHeaders;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
}

const UNAUTHORIZED_CHALLENGE = 'Bearer error="invalid_token"';
const MISSING_CHALLENGE = 'Bearer';

/**
 * Verifies the Google ID token of each request (see `InboundOptions`) and enforces the
 * caller allow-list: 401 for a missing or invalid token, 403 for a valid token of a caller
 * not allowed on the route, 503 when Google's signing keys cannot be obtained.
 * Bind with `@UseGuards(CloudRunAuthGuard)`, or globally with `inbound.mount: true`.
 * Extend it and override the protected hooks to adapt it (other request types, responses).
 * Using it without `inbound` options fails at boot.
 */
@Injectable()
export class CloudRunAuthGuard implements CanActivate {
  protected readonly logger = new Logger('CloudRunAuth');
  protected readonly options: ResolvedInboundOptions;
  protected readonly verifier: IdTokenVerifier;
  private warnedAboutStrippedTokens = false;

  constructor(
    @Inject(CLOUD_RUN_AUTH_CONFIG) config: ResolvedCloudRunAuthOptions,
    @Optional() @Inject(IdTokenVerifier) verifier: IdTokenVerifier | null,
    @Inject(Reflector) protected readonly reflector: Reflector,
    @Optional() @Inject(HttpAdapterHost) protected readonly adapterHost?: HttpAdapterHost,
  ) {
    if (!config?.inbound || !verifier) {
      // Fail closed and loud: a guard without configuration must never let a request through.
      throw new CloudRunAuthConfigError(
        'CloudRunAuthGuard is used but CloudRunAuthModule has no inbound options; set inbound: { audience, allowedCallers }',
        'inbound',
      );
    }
    this.options = config.inbound;
    this.verifier = verifier;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    const request = this.getRequest(context);
    const extraction = extractBearerToken(request.headers ?? {}, this.options.maxHeaderBytes, this.getRawHeaders(request));
    if ('failure' in extraction) {
      return this.reject(context, { status: 401, reason: extraction.failure, detail: describeFailure(extraction.failure, extraction.header) });
    }
    let identity: CallerIdentity;
    try {
      identity = await this.verifier.verify(extraction.token);
    } catch (error) {
      return this.reject(context, this.toRejection(error));
    }
    const allowList = this.getAllowList(context);
    if (allowList) {
      const refusal = this.checkCaller(identity, allowList);
      if (refusal) return this.reject(context, refusal);
    }
    setCallerIdentity(request, identity);
    return true;
  }

  /** Whether `@SkipCloudRunAuth()` applies (the route's setting wins over the controller's). */
  protected shouldSkip(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean | undefined>(SKIP_CLOUD_RUN_AUTH_METADATA, [context.getHandler(), context.getClass()]) ===
      true
    );
  }

  /** The request object (Express `Request` or Fastify `FastifyRequest`); override for other transports. */
  protected getRequest(context: ExecutionContext): HttpRequestLike {
    if (context.getType() !== 'http') {
      // Fails closed (401): there are no HTTP headers to read a token from.
      return {};
    }
    return context.switchToHttp().getRequest<HttpRequestLike>();
  }

  /** Raw header list used to refuse repeated token headers. */
  protected getRawHeaders(request: HttpRequestLike): readonly string[] | undefined {
    return request.rawHeaders ?? request.raw?.rawHeaders;
  }

  /** The allow-list of the route: `@AllowedCallers()` on the route, else on the controller, else the module's. */
  protected getAllowList(context: ExecutionContext): CallerAllowList | undefined {
    return (
      this.reflector.getAllAndOverride<CallerAllowList | undefined>(ALLOWED_CALLERS_METADATA, [context.getHandler(), context.getClass()]) ??
      this.options.allowedCallers
    );
  }

  /** `undefined` when `identity` passes `allowList`, else the refusal. */
  protected checkCaller(identity: CallerIdentity, allowList: CallerAllowList): InboundRejection | undefined {
    if (identity.email === undefined) {
      // Only reachable with allowAnyCaller (else the verifier already requires a verified email).
      const reason = typeof identity.claims.email === 'string' ? 'email_not_verified' : 'missing_email';
      return { status: 401, reason, detail: 'the route has an allow-list but the token carries no verified email' };
    }
    if (allowList.matches(identity.email)) return undefined;
    return { status: 403, reason: 'caller_not_allowed', detail: `caller ${JSON.stringify(identity.email)} is not in the allow-list` };
  }

  /** Maps an error of the verifier to a refusal. */
  protected toRejection(error: unknown): InboundRejection {
    if (error instanceof TokenVerificationError) {
      return { status: error.reason === 'keys_unavailable' ? 503 : 401, reason: error.reason, detail: error.message };
    }
    // Unexpected: refuse without echoing the message, which could quote request data.
    const name = error instanceof Error ? error.name : typeof error;
    return { status: 401, reason: 'verification_error', detail: `unexpected ${name} while verifying` };
  }

  /** Logs the refusal (reason code, never the token) and throws the matching `HttpException`. */
  protected reject(context: ExecutionContext, rejection: InboundRejection): never {
    this.logRejection(context, rejection);
    if (rejection.status === 401) {
      this.setHeader(context, 'WWW-Authenticate', rejection.reason === 'missing_token' ? MISSING_CHALLENGE : UNAUTHORIZED_CHALLENGE);
    }
    throw this.createException(rejection);
  }

  /** The exception thrown for a refusal; bodies are generic so they cannot leak anything. */
  protected createException(rejection: InboundRejection): HttpException {
    switch (rejection.status) {
      case 403:
        return new ForbiddenException();
      case 503:
        return new ServiceUnavailableException();
      default:
        return new UnauthorizedException();
    }
  }

  /** Logs at warn what needs an operator (misconfiguration, key outage), the rest at debug. */
  protected logRejection(context: ExecutionContext, { status, reason, detail }: InboundRejection): void {
    const line = `Rejected ${context.getClass().name}.${context.getHandler().name} with ${status}: reason=${reason}; ${detail}`;
    if (reason === 'signature_removed' && !this.warnedAboutStrippedTokens) {
      this.warnedAboutStrippedTokens = true;
      this.logger.warn(line);
    } else if (status === 503) {
      this.logger.warn(line);
    } else {
      this.logger.debug(line);
    }
  }

  private setHeader(context: ExecutionContext, name: string, value: string): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter || context.getType() !== 'http') return;
    adapter.setHeader(context.switchToHttp().getResponse(), name, value);
  }
}

function describeFailure(failure: TokenExtractionFailure, header: string | undefined): string {
  switch (failure) {
    case 'missing_token':
      return 'no X-Serverless-Authorization or Authorization header';
    case 'duplicate_header':
      return `${header} is repeated`;
    case 'header_too_large':
      return `${header} exceeds maxHeaderBytes`;
    default:
      return `${header} is not "Bearer <token>"`;
  }
}
