import { discoverCredentials } from '../credentials/adc.discovery.js';
import { IMPERSONATE_COMMAND } from '../credentials/authorized-user.source.js';
import type { CredentialSource } from '../credentials/credential-source.interface.js';
import type { CredentialsOptions } from '../credentials/credentials.options.js';
import { MetadataSource } from '../credentials/metadata.source.js';
import { credentialKind } from '../credentials/credential-kind.js';
import type { TokenSource } from '../../shared/telemetry/telemetry.names.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { localEmulatorHint } from '../../shared/runtime/local-emulator.hint.js';
import { IdTokenProvider } from './id-token.provider.js';

/** Options of {@link GoogleIdTokenProvider}. */
export interface GoogleIdTokenProviderOptions extends CredentialsOptions {
  /**
   * Metadata server `host[:port]` or URL (`http://127.0.0.1:8090`).
   * @default `GCE_METADATA_IP`, else `GCE_METADATA_HOST`, else `169.254.169.254` (google-auth-library's order)
   */
  metadataHost?: string;
  /** Environment to read ADC variables, and Cloud Run's (`K_SERVICE`, `CLOUD_RUN_JOB`), from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * ID tokens from Google credentials: Application Default Credentials (metadata server,
 * service-account key, impersonated service account, workload identity federation), optionally
 * impersonating another service account. Credentials are resolved on first use and kept once
 * found (a failed lookup is tried again by the next request); no `gcloud` subprocess and no
 * project-id lookup ever runs. Off Cloud Run, an endpoint on this machine that refuses the
 * connection (a stopped emulator) fails the fetch at once, not retryable, saying so.
 */
export class GoogleIdTokenProvider extends IdTokenProvider {
  private source?: Promise<CredentialSource>;
  private kind?: TokenSource;

  constructor(private readonly options: GoogleIdTokenProviderOptions = {}) {
    super();
  }

  /**
   * The kind of credentials found (`metadata`, `service_account`, `impersonated`, …), once found; for metrics and logs.
   * @internal
   */
  get credentialKind(): TokenSource | undefined {
    return this.kind;
  }

  async getIdToken(audience: string, { signal }: { signal?: AbortSignal } = {}): Promise<string> {
    const discovery = (this.source ??= discoverCredentials(this.options, this.options.env ?? process.env));
    let source: CredentialSource;
    try {
      source = await discovery;
      this.kind = credentialKind(source);
    } catch (error) {
      // Never cached: a file fixed (or mounted) later is found by the next request.
      if (this.source === discovery) this.source = undefined;
      throw withAudience(error, audience);
    }
    try {
      return await source.idToken(audience, signal);
    } catch (error) {
      const local = localEmulatorHint(error, this.options.env ?? process.env);
      if (local) {
        // A closed port on this machine stays closed while a request retries: fail now, not at the deadline.
        const message = error instanceof Error ? error.message : String(error);
        const cause = error instanceof IdTokenFetchError ? error.cause : error;
        throw new IdTokenFetchError(`${message}: ${local}`, audience, false, { cause });
      }
      if (!(error instanceof IdTokenFetchError) || !(source instanceof MetadataSource))
        throw withAudience(error, audience);
      throw new IdTokenFetchError(
        `${error.message}. No credentials file was found, so the metadata server is the only source: on Cloud Run, ` +
          'GCE and GKE it is always there; elsewhere set GOOGLE_APPLICATION_CREDENTIALS, or for local development run ' +
          `\`${IMPERSONATE_COMMAND}\``,
        audience,
        error.retryable,
        { cause: error.cause },
      );
    }
  }
}

function withAudience(error: unknown, audience: string): unknown {
  return error instanceof IdTokenFetchError && error.audience === ''
    ? new IdTokenFetchError(error.message, audience, error.retryable, { cause: error.cause })
    : error;
}
