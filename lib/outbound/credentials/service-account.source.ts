import { createPrivateKey, type KeyObject } from 'node:crypto';
import { signRs256Jwt } from '../../shared/jwt/jwt.signer.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { memoizeAccessToken } from './access-token.memo.js';
import { CLOUD_PLATFORM_SCOPE, type CredentialSource } from './credential-source.interface.js';
import { field, postToGoogle } from './google-http.client.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * A service-account key (`"type": "service_account"`): RFC 7523 JWT-bearer grant against the
 * key's own `token_uri`, with `target_audience` for an ID token or `scope` for an access token.
 */
export class ServiceAccountSource implements CredentialSource {
  readonly description: string;
  readonly accessToken: (signal?: AbortSignal) => Promise<string>;
  private readonly email: string;
  private readonly keyId?: string;
  private readonly key: KeyObject;
  private readonly tokenUri: string;

  constructor(json: Record<string, unknown>, origin: string) {
    this.description = `service_account key (${origin})`;
    const missing = ['client_email', 'private_key'].filter((name) => typeof json[name] !== 'string');
    if (missing.length) {
      throw new IdTokenFetchError(
        `${this.description} lacks ${missing.join(' and ')}; download a new JSON key`,
        '',
        false,
      );
    }
    this.email = json.client_email as string;
    this.keyId = typeof json.private_key_id === 'string' ? json.private_key_id : undefined;
    this.tokenUri = typeof json.token_uri === 'string' ? json.token_uri : 'https://oauth2.googleapis.com/token';
    try {
      this.key = createPrivateKey(json.private_key as string);
    } catch {
      throw new IdTokenFetchError(`${this.description} has a private_key that is not a valid PEM key`, '', false);
    }
    this.accessToken = memoizeAccessToken(async (signal) => {
      const answer = await this.grant({ scope: CLOUD_PLATFORM_SCOPE }, 'access token', '', signal);
      return {
        token: field(answer, 'access_token', this.description, ''),
        expiresInSeconds: Number(answer.expires_in) || 300,
      };
    }, this.description);
  }

  async idToken(audience: string, signal?: AbortSignal): Promise<string> {
    const answer = await this.grant({ target_audience: audience }, 'ID token', audience, signal);
    return field(answer, 'id_token', this.description, audience);
  }

  private grant(claims: Record<string, string>, what: string, audience: string, signal?: AbortSignal) {
    const iat = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(this.keyId ? { kid: this.keyId } : {}) };
    const payload = { iss: this.email, sub: this.email, aud: this.tokenUri, iat, exp: iat + 3600, ...claims };
    const assertion = signRs256Jwt(this.key, header, payload);
    return postToGoogle(
      this.tokenUri,
      { form: { grant_type: JWT_BEARER, assertion } },
      `${this.description}, ${what}`,
      audience,
      signal,
    );
  }
}
