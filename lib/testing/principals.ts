import { randomBytes, type KeyObject } from 'node:crypto';
import { createSigningKey } from './signing-key.js';

/** A service-account key the emulator issued: its public half, and whose it is. */
export interface ServiceAccountKey {
  kid: string;
  email: string;
  publicKey: KeyObject;
}

/** The OAuth client of the `authorized_user` credentials the emulator issues (gcloud has one too). */
export const USER_CLIENT = {
  id: '764086051850-emulator.apps.googleusercontent.com',
  secret: 'emulator-secret',
} as const;

/** What gcloud's application-default login grants, `openid` included (so refreshes return an ID token). */
export const USER_SCOPES = [
  'openid',
  'https://www.googleapis.com/auth/userinfo.email',
  'https://www.googleapis.com/auth/cloud-platform',
] as const;

/**
 * Who the emulator knows: service-account keys it issued, users it issued refresh tokens to,
 * and the access tokens it handed out, each with its principal.
 */
export class Principals {
  private readonly keys = new Map<string, ServiceAccountKey>();
  private readonly users = new Map<string, string>();
  private readonly accessTokens = new Map<string, string>();

  constructor(
    private readonly tokenUri: string,
    private readonly projectId: string,
  ) {}

  /** A service-account key file whose `token_uri` is this emulator; its public key is registered here. */
  createServiceAccountKey(email: string): Record<string, string> {
    const { kid, privateKey, publicKey } = createSigningKey();
    this.keys.set(kid, { kid, email, publicKey });
    return {
      type: 'service_account',
      project_id: this.projectId,
      private_key_id: kid,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: randomBytes(10).readBigUInt64BE().toString(),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: this.tokenUri,
    };
  }

  /** `authorized_user` credentials (what plain `gcloud auth application-default login` writes), with `token_uri` here. */
  createUserCredentials(email: string): Record<string, string> {
    const refreshToken = `1//emulator-${randomBytes(24).toString('base64url')}`;
    this.users.set(refreshToken, email);
    return {
      type: 'authorized_user',
      client_id: USER_CLIENT.id,
      client_secret: USER_CLIENT.secret,
      refresh_token: refreshToken,
      token_uri: this.tokenUri,
    };
  }

  /** The key with this id, if the emulator issued it. */
  keyById(kid: string): ServiceAccountKey | undefined {
    return this.keys.get(kid);
  }

  /** Every key issued for `email`. */
  keysOf(email: string): ServiceAccountKey[] {
    return [...this.keys.values()].filter((key) => key.email === email);
  }

  /** The user a refresh token was issued to. */
  userOf(refreshToken: string): string | undefined {
    return this.users.get(refreshToken);
  }

  /** Issues an access token for `principal`. */
  issueAccessToken(principal: string): string {
    const token = `ya29.emulator-${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(token, principal);
    return token;
  }

  /** The principal an access token issued here belongs to (`undefined` if unknown). */
  principalOf(accessToken: string): string | undefined {
    return this.accessTokens.get(accessToken);
  }
}
