/**
 * Thrown (or rejected) when no valid ID token could be obtained for an audience
 * within the configured deadline and nothing valid was cached.
 * The message never contains a token.
 */
export class IdTokenFetchError extends Error {
  override readonly name = 'IdTokenFetchError';

  constructor(
    message: string,
    /** The audience the token was requested for. */
    readonly audience: string,
    /** Whether trying again later may succeed (network errors, 5xx, timeouts). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
