import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { memoizeAccessToken } from './access-token.memo.js';
import type { CredentialSource } from './credential-source.interface.js';
import { field, postToGoogle } from './google-http.client.js';

/** The command that gives a developer a service-account identity Cloud Run accepts. */
export const IMPERSONATE_COMMAND = 'gcloud auth application-default login --impersonate-service-account=SA_EMAIL';

/**
 * A user's refresh token (`"type": "authorized_user"`, from plain
 * `gcloud auth application-default login`). Its own ID tokens are issued to gcloud's OAuth
 * client, an audience Cloud Run rejects, so it refuses to mint one; it is a fine source of an
 * access token for impersonating a service account.
 */
export class AuthorizedUserSource implements CredentialSource {
  readonly description: string;
  readonly accessToken: (signal?: AbortSignal) => Promise<string>;

  constructor(json: Record<string, unknown>, origin: string) {
    this.description = `authorized_user credentials (${origin})`;
    const tokenUri = typeof json.token_uri === 'string' ? json.token_uri : 'https://oauth2.googleapis.com/token';
    const form = {
      grant_type: 'refresh_token',
      client_id: typeof json.client_id === 'string' ? json.client_id : '',
      client_secret: typeof json.client_secret === 'string' ? json.client_secret : '',
      refresh_token: typeof json.refresh_token === 'string' ? json.refresh_token : '',
    };
    this.accessToken = memoizeAccessToken(async (signal) => {
      const answer = await postToGoogle(tokenUri, { form }, `${this.description}, access token`, '', signal);
      return {
        token: field(answer, 'access_token', this.description, ''),
        expiresInSeconds: Number(answer.expires_in) || 300,
      };
    }, this.description);
  }

  idToken(audience: string): Promise<string> {
    return Promise.reject(
      new IdTokenFetchError(
        `${this.description} are a user account; Cloud Run only accepts ID tokens of a service account. ` +
          `Run \`${IMPERSONATE_COMMAND}\` (you need roles/iam.serviceAccountTokenCreator on SA_EMAIL), ` +
          'or set the `impersonate` credentials option to a service account.',
        audience,
        false,
      ),
    );
  }
}
