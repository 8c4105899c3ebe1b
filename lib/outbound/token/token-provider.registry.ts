import type { CredentialsOptions } from '../credentials/credentials.options.js';
import { GoogleIdTokenProvider } from './google-id-token.provider.js';
import type { IdTokenProvider } from './id-token.provider.js';

/**
 * The identities of one application: the module's token provider, and one provider per
 * distinct per-service `credentials` (merged over the module's). Services with equal effective
 * credentials, from `forRoot` or any `forFeature`, share a provider, hence the cache's entries.
 */
export class TokenProviderRegistry {
  private readonly providers = new Map<string, IdTokenProvider>();
  /** The module's provider: the `tokenProvider` option, or Google's with the module's `credentials`. */
  readonly moduleProvider: IdTokenProvider;

  constructor(
    /** The `tokenProvider` option; per-service credentials cannot be combined with it. */
    readonly customProvider: IdTokenProvider | undefined,
    private readonly moduleCredentials: CredentialsOptions | undefined,
  ) {
    this.moduleProvider = customProvider ?? this.forCredentials(moduleCredentials ?? {});
  }

  /** The provider of a service: its own `credentials` merged over the module's, or the module's provider. */
  forService(credentials: CredentialsOptions | undefined): IdTokenProvider {
    return credentials === undefined
      ? this.moduleProvider
      : this.forCredentials({ ...this.moduleCredentials, ...credentials });
  }

  private forCredentials(credentials: CredentialsOptions): IdTokenProvider {
    const key = JSON.stringify(credentials);
    let provider = this.providers.get(key);
    if (!provider) this.providers.set(key, (provider = new GoogleIdTokenProvider(credentials)));
    return provider;
  }
}
