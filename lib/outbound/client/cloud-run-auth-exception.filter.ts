import {
  BadGatewayException,
  Catch,
  HttpException,
  Inject,
  Logger,
  ServiceUnavailableException,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { TargetRejectedTokenError } from '../../shared/errors/target-rejected-token.error.js';
import { OperatorLog } from '../../shared/telemetry/operator.log.js';

/** What callers read: generic on purpose, the errors' own messages name internal URLs. */
const UNAVAILABLE = 'An upstream service could not be authenticated';
const REJECTED = "An upstream service rejected this service's authentication";

/**
 * Answers the outbound token errors that reach a route handler with a gateway status instead
 * of Nest's 500: `IdTokenFetchError` (no ID token could be had) → **503**, and
 * `TargetRejectedTokenError` (the target answered 401 to a fresh token) → **502**. The body
 * has Nest's usual shape (`{ message, error, statusCode }`) with a fixed, generic message:
 * nothing of the error's message, which names audiences and internal addresses. The error's
 * message (which never contains a token) is logged: at `warn` the first time in a minute for each
 * error class, service and audience, at `debug` after that.
 *
 * Every other exception is left to the next filter (Nest's default: a `NotFoundException`
 * still answers 404). HTTP only, on Express and Fastify alike; in another context (RPC,
 * WebSockets, GraphQL) the error is thrown on unchanged.
 *
 * Install it like any Nest filter, in one line:
 * - in a module's providers: `{ provide: APP_FILTER, useClass: CloudRunAuthExceptionFilter }`;
 * - in `main.ts`: `app.useGlobalFilters(new CloudRunAuthExceptionFilter(app.get(HttpAdapterHost)))`;
 * - on a controller or route: `@UseFilters(CloudRunAuthExceptionFilter)`.
 */
@Catch(IdTokenFetchError, TargetRejectedTokenError)
export class CloudRunAuthExceptionFilter implements ExceptionFilter<IdTokenFetchError | TargetRejectedTokenError> {
  protected readonly logger = new Logger('CloudRunAuth');
  private readonly log = new OperatorLog(this.logger);

  /**
   * @param adapterHost the application's `HttpAdapterHost`, through which the answer is sent;
   *   injected when Nest creates the filter, `app.get(HttpAdapterHost)` when you do.
   * @throws CloudRunAuthConfigError without one.
   */
  constructor(@Inject(HttpAdapterHost) protected readonly adapterHost: HttpAdapterHost) {
    if (!(adapterHost instanceof HttpAdapterHost)) {
      throw new CloudRunAuthConfigError(
        'needs the HttpAdapterHost: new CloudRunAuthExceptionFilter(app.get(HttpAdapterHost)), or let Nest create ' +
          'it with { provide: APP_FILTER, useClass: CloudRunAuthExceptionFilter }',
        'CloudRunAuthExceptionFilter',
      );
    }
  }

  catch(exception: IdTokenFetchError | TargetRejectedTokenError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const answer = this.toHttpException(exception);
    const service = exception instanceof TargetRejectedTokenError ? exception.service : undefined;
    this.log.report(
      `Answered ${answer.getStatus()} for ${exception.name}`,
      { service, audience: exception.audience },
      { error: exception.message },
    );
    const adapter = this.adapterHost.httpAdapter;
    const response: unknown = host.switchToHttp().getResponse();
    if (adapter.isHeadersSent(response)) {
      adapter.end(response);
      return;
    }
    adapter.reply(response, answer.getResponse(), answer.getStatus());
  }

  /** The answer to `exception`: 503 for `IdTokenFetchError`, 502 for `TargetRejectedTokenError`. */
  protected toHttpException(exception: IdTokenFetchError | TargetRejectedTokenError): HttpException {
    return exception instanceof TargetRejectedTokenError
      ? new BadGatewayException(REJECTED)
      : new ServiceUnavailableException(UNAVAILABLE);
  }
}
