/**
 * Where ID tokens come from. Also the DI token of the active provider: inject
 * `IdTokenProvider` to reach it, or pass `tokenProvider` in the module options to replace it.
 * The default is {@link GoogleIdTokenProvider} (Application Default Credentials).
 *
 * Implementations fetch; they do not cache. Caching, single-flight, refresh-ahead and retries
 * are the {@link IdTokenCache}'s job.
 */
export abstract class IdTokenProvider {
  /**
   * Returns a fresh Google-signed ID token (compact JWT) whose `aud` is `audience`.
   * @param options.signal aborted when the cache's per-attempt timeout fires: stop the I/O then.
   */
  abstract getIdToken(audience: string, options?: { signal?: AbortSignal }): Promise<string>;
}
