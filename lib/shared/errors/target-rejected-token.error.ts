import { AxiosError } from 'axios';

/**
 * Thrown (rejected) by a `ServiceClient` when the target answers 401 to an ID token it should
 * accept: also to a freshly fetched one, or while the audience is in the short window that
 * follows such a rejection (no token is fetched per request then). An `AxiosError`, keeping
 * the target's `response`; its message names the service, the audience sent and what to check
 * on the callee. It never contains the token.
 */
export class TargetRejectedTokenError<T = unknown> extends AxiosError<T> {
  override readonly name = 'TargetRejectedTokenError';

  constructor(
    /** The `ServiceDefinition` name of the target. */
    readonly service: string,
    /** The `aud` of the token the target rejected. */
    readonly audience: string,
    why: string,
    error: AxiosError<T>,
  ) {
    super(
      `${service} rejected the ID token for audience ${audience} with 401 (${why}). On ${service}, check that it ` +
        "accepts this audience (Cloud Run: its URL; CloudRunAuthGuard: inbound.audience), that the caller's " +
        'service account has roles/run.invoker on it, and that the caller is in its allow-list',
      'ERR_TARGET_REJECTED_TOKEN',
      error.config,
      error.request,
      error.response,
    );
  }
}
