import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IdTokenFetchError } from '../errors/id-token-fetch.error.js';
import { fetchMetadataIdToken, metadataHostFromEnv } from './metadata.client.js';
import { IdTokenProvider, type IdTokenRequestOptions } from './id-token.provider.js';

/** Options of {@link GoogleIdTokenProvider}. */
export interface GoogleIdTokenProviderOptions {
  /** Metadata server `host[:port]`. @default `GCE_METADATA_HOST`, else `169.254.169.254` */
  metadataHost?: string;
  /** Path of a credentials JSON file. @default ADC lookup (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's well-known file, metadata server) */
  keyFile?: string;
  /** Parsed credentials JSON, instead of a file. @default none */
  credentials?: Record<string, unknown>;
  /** Environment to read ADC variables from (tests). @default process.env */
  env?: NodeJS.ProcessEnv;
}

type Source =
  | { kind: 'metadata'; host: string }
  | { kind: 'file'; origin: string; json: Record<string, unknown> };

const IMPERSONATE_HINT =
  'For local development run `gcloud auth application-default login --impersonate-service-account=SA_EMAIL` ' +
  '(needs roles/iam.serviceAccountTokenCreator on SA_EMAIL).';

/**
 * ID tokens from Application Default Credentials, resolved once, in ADC's order:
 * explicit `credentials`/`keyFile`, `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's well-known file,
 * then the metadata server (Cloud Run, GCE, GKE). The metadata path is served by a small
 * client of our own: the audience is URL-encoded and every call has a deadline. No `gcloud`
 * subprocess and no project-id lookup ever runs.
 */
export class GoogleIdTokenProvider extends IdTokenProvider {
  private source?: Promise<Source>;
  private fileClient?: Promise<{ fetchIdToken(audience: string): Promise<string> }>;

  constructor(private readonly options: GoogleIdTokenProviderOptions = {}) {
    super();
  }

  async getIdToken(audience: string, { signal }: IdTokenRequestOptions = {}): Promise<string> {
    this.source ??= this.discover();
    const source = await this.source;
    if (source.kind === 'metadata') {
      try {
        return await fetchMetadataIdToken(source.host, audience, signal);
      } catch (error) {
        if (!(error instanceof IdTokenFetchError)) throw error;
        throw new IdTokenFetchError(
          `${error.message}. No credentials file was found, so the metadata server is the only source: ` +
            'on Cloud Run/GCE/GKE it is always there; elsewhere set GOOGLE_APPLICATION_CREDENTIALS or ' +
            IMPERSONATE_HINT.charAt(0).toLowerCase() + IMPERSONATE_HINT.slice(1),
          audience,
          error.retryable,
          { cause: error.cause },
        );
      }
    }
    this.fileClient ??= this.clientFor(source);
    const client = await this.fileClient;
    try {
      return await client.fetchIdToken(audience);
    } catch (error) {
      const status = (error as { status?: number; response?: { status?: number } }).response?.status;
      throw new IdTokenFetchError(
        `${String(source.json.type)} credentials from ${source.origin} could not mint an ID token` +
          (status ? ` (HTTP ${status})` : ''),
        audience,
        status === undefined || status >= 500 || status === 429,
      );
    }
  }

  private async discover(): Promise<Source> {
    const env = this.options.env ?? process.env;
    if (this.options.credentials) return { kind: 'file', origin: 'the `credentials` option', json: this.options.credentials };
    const explicit = this.options.keyFile ?? env.GOOGLE_APPLICATION_CREDENTIALS;
    if (explicit) {
      const origin = this.options.keyFile ? `keyFile ${explicit}` : `GOOGLE_APPLICATION_CREDENTIALS=${explicit}`;
      return { kind: 'file', origin, json: await readJson(explicit, origin) };
    }
    const wellKnown = join(
      env.CLOUDSDK_CONFIG ?? (process.platform === 'win32' ? join(env.APPDATA ?? '', 'gcloud') : join(homedir(), '.config', 'gcloud')),
      'application_default_credentials.json',
    );
    const json = await readJson(wellKnown, `gcloud's well-known file ${wellKnown}`).catch(() => undefined);
    if (json) return { kind: 'file', origin: `gcloud's well-known file ${wellKnown}`, json };
    return { kind: 'metadata', host: this.options.metadataHost ?? metadataHostFromEnv(env) };
  }

  private async clientFor(source: Extract<Source, { kind: 'file' }>) {
    const type = source.json.type;
    if (type === 'authorized_user') {
      throw new IdTokenFetchError(
        `credentials from ${source.origin} are a user account (authorized_user); Cloud Run only accepts ` +
          `ID tokens of a service account. ${IMPERSONATE_HINT}`,
        '',
        false,
      );
    }
    if (type !== 'service_account' && type !== 'impersonated_service_account') {
      throw new IdTokenFetchError(
        `credentials of type ${String(type)} from ${source.origin} cannot mint ID tokens here; ` +
          `use a service-account key, impersonated service-account ADC, or the metadata server. ${IMPERSONATE_HINT}`,
        '',
        false,
      );
    }
    const { GoogleAuth } = await import('google-auth-library');
    const client = new GoogleAuth().fromJSON(source.json as never) as unknown as {
      fetchIdToken(audience: string, options?: { includeEmail?: boolean }): Promise<string>;
    };
    return { fetchIdToken: (audience: string) => client.fetchIdToken(audience, { includeEmail: true }) };
  }
}

async function readJson(path: string, origin: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new IdTokenFetchError(`cannot read credentials (${origin}): ${(error as NodeJS.ErrnoException).code ?? error}`, '', false);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new IdTokenFetchError(`credentials (${origin}) are not valid JSON`, '', false);
  }
}
