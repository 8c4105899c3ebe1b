import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { memoizeAccessToken } from './access-token.memo.js';
import { CLOUD_PLATFORM_SCOPE, type CredentialSource } from './credential-source.interface.js';
import { field, postToGoogle } from './google-http.client.js';

/** Google's IAM Credentials API. */
export const DEFAULT_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com';

const GENERATE_ACCESS_TOKEN_URL =
  /^(https?:\/\/[^/]+(?:\/[^/]+)*?)\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/**
 * Splits a credentials file's `service_account_impersonation_url`
 * (`…/v1/projects/-/serviceAccounts/SA:generateAccessToken`) into the IAM Credentials base URL
 * and the service account; `undefined` when it is not such a URL.
 */
export function parseImpersonationUrl(url: unknown): { iamCredentialsUrl: string; email: string } | undefined {
  const match = typeof url === 'string' ? GENERATE_ACCESS_TOKEN_URL.exec(url) : null;
  return match ? { iamCredentialsUrl: match[1]!, email: decodeURIComponent(match[2]!) } : undefined;
}

/** The IAM Credentials resource name of a service account (delegates may be given either way). */
export function serviceAccountResource(emailOrResource: string): string {
  return emailOrResource.startsWith('projects/') ? emailOrResource : `projects/-/serviceAccounts/${emailOrResource}`;
}

/**
 * A service account impersonated through IAM Credentials `generateIdToken`, authorised by
 * the access token of a source credential (user, key, metadata server or federation).
 */
export class ImpersonatedSource implements CredentialSource {
  readonly description: string;
  readonly accessToken: (signal?: AbortSignal) => Promise<string>;
  private readonly resourceUrl: string;
  private readonly delegates: string[];

  constructor(
    private readonly source: CredentialSource,
    readonly targetEmail: string,
    options: { delegates?: string[]; iamCredentialsUrl?: string; description?: string } = {},
  ) {
    this.description = options.description ?? `impersonation of ${targetEmail} by ${source.description}`;
    const base = (options.iamCredentialsUrl ?? DEFAULT_IAM_CREDENTIALS_URL).replace(/\/+$/, '');
    this.resourceUrl = `${base}/v1/${serviceAccountResource(targetEmail)}`;
    this.delegates = (options.delegates ?? []).map(serviceAccountResource);
    this.accessToken = memoizeAccessToken(async (signal) => {
      const answer = await this.call(
        'generateAccessToken',
        { delegates: this.delegates, scope: [CLOUD_PLATFORM_SCOPE] },
        '',
        signal,
      );
      const expireTime = Date.parse(String(answer.expireTime));
      return {
        token: field(answer, 'accessToken', this.description, ''),
        expiresInSeconds: Number.isFinite(expireTime) ? (expireTime - Date.now()) / 1000 : 300,
      };
    }, this.description);
  }

  async idToken(audience: string, signal?: AbortSignal): Promise<string> {
    const answer = await this.call(
      'generateIdToken',
      { audience, includeEmail: true, delegates: this.delegates },
      audience,
      signal,
    );
    return field(answer, 'token', this.description, audience);
  }

  private async call(method: string, json: object, audience: string, signal?: AbortSignal) {
    let accessToken: string;
    try {
      accessToken = await this.source.accessToken(signal);
    } catch (error) {
      if (!(error instanceof IdTokenFetchError)) throw error;
      throw new IdTokenFetchError(
        `${this.description}: the source could not get an access token: ${error.message}`,
        audience,
        error.retryable,
      );
    }
    return postToGoogle(
      `${this.resourceUrl}:${method}`,
      { json, accessToken },
      `${this.description}, ${method}`,
      audience,
      signal,
    );
  }
}
