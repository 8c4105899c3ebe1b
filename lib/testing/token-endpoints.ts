import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { decodeJwt } from '../shared/jwt/jwt.codec.js';
import { createSigningKey } from './signing-key.js';

/** What the token endpoints need from the emulator. */
export interface TokenEndpointContext {
  url: string;
  projectId: string;
  lifetime: number;
  mint(claims: Record<string, unknown>): string;
}

/** A JSON answer of an endpoint. */
export interface JsonAnswer {
  status: number;
  json: unknown;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * Stand-ins for Google's OAuth 2.0 token endpoint (`/token`: JWT-bearer and refresh-token
 * grants), STS (`/v1/token`: token exchange) and IAM Credentials
 * (`/v1/projects/-/serviceAccounts/SA:generateIdToken|generateAccessToken`), speaking their
 * request and response formats. Access tokens it issues are remembered with their principal,
 * so IAM calls are only honoured with one of them.
 */
export class TokenEndpoints {
  private readonly keys = new Map<string, { email: string; publicKey: KeyObject }>();
  private readonly users = new Map<string, string>();
  private readonly accessTokens = new Map<string, string>();

  constructor(private readonly ctx: TokenEndpointContext) {}

  /** A service-account key file whose `token_uri` is this emulator; its public key is registered here. */
  createServiceAccountKey(email: string): Record<string, string> {
    const { kid: keyId, privateKey, publicKey } = createSigningKey();
    this.keys.set(keyId, { email, publicKey });
    return {
      type: 'service_account',
      project_id: this.ctx.projectId,
      private_key_id: keyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: randomBytes(10).readBigUInt64BE().toString(),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${this.ctx.url}/token`,
    };
  }

  /** `authorized_user` credentials (what plain `gcloud auth application-default login` writes), with `token_uri` here. */
  createUserCredentials(email: string): Record<string, string> {
    const refreshToken = `1//emulator-${randomBytes(24).toString('base64url')}`;
    this.users.set(refreshToken, email);
    return {
      type: 'authorized_user',
      client_id: '764086051850-emulator.apps.googleusercontent.com',
      client_secret: 'emulator-secret',
      refresh_token: refreshToken,
      token_uri: `${this.ctx.url}/token`,
    };
  }

  /** The principal an access token issued here belongs to (`undefined` if unknown). */
  principalOf(accessToken: string): string | undefined {
    return this.accessTokens.get(accessToken);
  }

  /** Issues an access token for `principal` (the metadata server uses it too). */
  issueAccessToken(principal: string): string {
    const token = `ya29.emulator-${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(token, principal);
    return token;
  }

  /** Routes a POST; `undefined` when the path is not a token endpoint. */
  handle(path: string, headers: Record<string, string | string[] | undefined>, body: string): JsonAnswer | undefined {
    if (path === '/token') return this.oauthToken(new URLSearchParams(body));
    if (path === '/v1/token') return this.sts(new URLSearchParams(body));
    const iam = /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+):(generateIdToken|generateAccessToken)$/.exec(path);
    if (iam) return this.iam(decodeURIComponent(iam[1]!), iam[2]!, headers.authorization, body);
    return undefined;
  }

  private oauthToken(form: URLSearchParams): JsonAnswer {
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      const user = this.users.get(form.get('refresh_token') ?? '');
      if (!user || !form.get('client_id') || !form.get('client_secret'))
        return oauthError('invalid_grant', 'Bad Request');
      return this.accessTokenAnswer(user);
    }
    if (grant !== JWT_BEARER) return oauthError('unsupported_grant_type', 'Invalid grant_type');
    const jwt = decodeJwt(form.get('assertion') ?? '');
    const key = jwt && this.keys.get(String(jwt.header.kid));
    const claims = jwt?.payload ?? {};
    const now = Math.floor(Date.now() / 1000);
    if (
      !jwt ||
      !key ||
      jwt.header.alg !== 'RS256' ||
      !verify('sha256', Buffer.from(jwt.signingInput), key.publicKey, Buffer.from(jwt.signature, 'base64url')) ||
      claims.iss !== key.email ||
      claims.aud !== `${this.ctx.url}/token` ||
      typeof claims.exp !== 'number' ||
      claims.exp < now ||
      typeof claims.iat !== 'number' ||
      claims.exp - claims.iat > 3600
    ) {
      return oauthError('invalid_grant', 'Invalid JWT Signature.');
    }
    if (typeof claims.target_audience === 'string') {
      return { status: 200, json: { id_token: this.ctx.mint({ aud: claims.target_audience, email: key.email }) } };
    }
    if (typeof claims.scope !== 'string') return oauthError('invalid_scope', 'No scope or target_audience');
    return this.accessTokenAnswer(key.email);
  }

  private sts(form: URLSearchParams): JsonAnswer {
    if (
      form.get('grant_type') !== TOKEN_EXCHANGE ||
      !form.get('audience') ||
      !form.get('subject_token') ||
      !form.get('subject_token_type') ||
      form.get('requested_token_type') !== ACCESS_TOKEN_TYPE
    ) {
      return oauthError('invalid_request', 'Invalid token exchange request');
    }
    const principal = `principal://${form.get('audience')!.replace(/^\/\//, '')}/subject/${form.get('subject_token')!.slice(0, 16)}`;
    return {
      status: 200,
      json: {
        access_token: this.issueAccessToken(principal),
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: this.ctx.lifetime,
      },
    };
  }

  private iam(email: string, method: string, authorization: unknown, body: string): JsonAnswer {
    const bearer =
      typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
    if (!this.accessTokens.has(bearer)) {
      return {
        status: 401,
        json: {
          error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
        },
      };
    }
    let request: { audience?: unknown; includeEmail?: unknown; scope?: unknown };
    try {
      request = JSON.parse(body) as typeof request;
    } catch {
      return {
        status: 400,
        json: { error: { code: 400, message: 'Invalid JSON payload', status: 'INVALID_ARGUMENT' } },
      };
    }
    if (method === 'generateAccessToken') {
      if (!Array.isArray(request.scope) || request.scope.length === 0) {
        return { status: 400, json: { error: { code: 400, message: 'Scope required.', status: 'INVALID_ARGUMENT' } } };
      }
      const expireTime = new Date(Date.now() + this.ctx.lifetime * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      return { status: 200, json: { accessToken: this.issueAccessToken(email), expireTime } };
    }
    if (typeof request.audience !== 'string' || request.audience === '') {
      return {
        status: 400,
        json: { error: { code: 400, message: 'audience is required', status: 'INVALID_ARGUMENT' } },
      };
    }
    const claims: Record<string, unknown> = { aud: request.audience, email };
    if (request.includeEmail !== true) Object.assign(claims, { email: undefined, email_verified: undefined });
    return { status: 200, json: { token: this.ctx.mint(claims) } };
  }

  private accessTokenAnswer(principal: string): JsonAnswer {
    return {
      status: 200,
      json: { access_token: this.issueAccessToken(principal), expires_in: this.ctx.lifetime - 1, token_type: 'Bearer' },
    };
  }
}

function oauthError(error: string, description: string): JsonAnswer {
  return { status: 400, json: { error, error_description: description } };
}
