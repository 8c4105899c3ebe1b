import { verify } from 'node:crypto';
import type { Principals, ServiceAccountKey } from './principals.js';
import { USER_CLIENT, USER_SCOPES } from './principals.js';

/** A JSON answer of an endpoint. */
export interface JsonAnswer {
  status: number;
  json: unknown;
}

/** What the token endpoints need from the emulator. */
export interface EndpointContext {
  /** The emulator's own token endpoint, `http://127.0.0.1:PORT/token`. */
  tokenUri: string;
  lifetime: number;
  principals: Principals;
  /** Mints an ID token for `email`, as Google's token endpoint or IAM would. */
  mintIdToken(email: string, audience: string, options?: { includeEmail?: boolean; azp?: string }): string;
}

/**
 * Audiences Google's token endpoint accepts in a JWT-bearer assertion besides its own URL. Client
 * libraries sign one of them whatever `token_uri` says (google-auth for Python since 2.x, Node's
 * google-auth-library, older clients the v4 or accounts URL).
 */
export const GOOGLE_TOKEN_AUDIENCES = [
  'https://oauth2.googleapis.com/token',
  'https://www.googleapis.com/oauth2/v4/token',
  'https://accounts.google.com/o/oauth2/token',
] as const;

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const MAX_ASSERTION_LENGTH = 16_384;
/** base64url, padded or not (older Python google-auth pads its segments). */
const SEGMENT = /^[A-Za-z0-9_-]*={0,2}$/;
const CLOCK_SKEW_SECONDS = 300;
const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';

/** `{"error": ..., "error_description": ...}`, the shape of Google's OAuth errors. */
export function oauthError(error: string, description: string, status = 400): JsonAnswer {
  return { status, json: { error, error_description: description } };
}

/** Stand-in for `https://oauth2.googleapis.com/token`: JWT-bearer and refresh-token grants. */
export function oauthToken(form: URLSearchParams, ctx: EndpointContext): JsonAnswer {
  const grant = form.get('grant_type');
  if (!grant) return oauthError('invalid_request', 'Missing required parameter: grant_type');
  if (grant === 'refresh_token') return refreshGrant(form, ctx);
  if (grant !== JWT_BEARER) return oauthError('unsupported_grant_type', `Invalid grant_type: ${grant}`);
  const assertion = form.get('assertion');
  if (!assertion) return oauthError('invalid_request', 'Missing required parameter: assertion');
  const checked = checkAssertion(assertion, ctx);
  if ('status' in checked) return checked;
  const { email, claims } = checked;
  if (typeof claims.target_audience === 'string' && claims.target_audience !== '') {
    return { status: 200, json: { id_token: ctx.mintIdToken(email, claims.target_audience) } };
  }
  if (typeof claims.scope !== 'string' || claims.scope.trim() === '') {
    return oauthError('invalid_scope', 'Empty or missing scope not allowed.');
  }
  return accessTokenAnswer(ctx, email);
}

/** Verifies a JWT-bearer assertion like Google: the signer's key, signature, audience, lifetime. */
function checkAssertion(
  assertion: string,
  ctx: EndpointContext,
): { email: string; claims: Record<string, unknown> } | JsonAnswer {
  const segments = assertion.split('.');
  const [header, claims] = segments.slice(0, 2).map(parseSegment);
  if (
    assertion.length > MAX_ASSERTION_LENGTH ||
    segments.length !== 3 ||
    !segments.every((s) => SEGMENT.test(s)) ||
    !header ||
    !claims
  ) {
    return oauthError(
      'invalid_grant',
      'Invalid JWT: the assertion is not a compact JWS (three base64url segments, JSON header and payload).',
    );
  }
  if (header.alg !== 'RS256') {
    return oauthError(
      'invalid_grant',
      `Invalid JWT: the signing algorithm must be RS256, got ${describe(header.alg)}.`,
    );
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') {
    return oauthError('invalid_grant', 'Invalid JWT: no iss claim (the service account email).');
  }
  const email = claims.iss;
  const known = ctx.principals.keysOf(email);
  if (known.length === 0) return oauthError('invalid_grant', 'Invalid grant: account not found');
  // With a kid, that key only (Google's keys are looked up by it); without one, any key of the account.
  let candidates: ServiceAccountKey[] = known;
  if (header.kid !== undefined) {
    const key = typeof header.kid === 'string' ? ctx.principals.keyById(header.kid) : undefined;
    if (!key || key.email !== email) {
      return oauthError('invalid_grant', `Invalid JWT Signature: the key id in its header is not a key of ${email}.`);
    }
    candidates = [key];
  }
  const signingInput = Buffer.from(assertion.slice(0, assertion.lastIndexOf('.')));
  const signature = Buffer.from(segments[2]!, 'base64url');
  if (!candidates.some((key) => verify('sha256', signingInput, key.publicKey, signature))) {
    return oauthError('invalid_grant', 'Invalid JWT Signature.');
  }
  const audiences = [ctx.tokenUri, ...GOOGLE_TOKEN_AUDIENCES];
  if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud)) {
    return oauthError(
      'invalid_grant',
      `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_AUDIENCES[0]} ` +
        `(or ${ctx.tokenUri}), got ${describe(claims.aud)}.`,
    );
  }
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp } = claims;
  if (
    typeof iat !== 'number' ||
    typeof exp !== 'number' ||
    exp - iat > 3600 ||
    exp <= iat ||
    exp < now - CLOCK_SKEW_SECONDS ||
    iat > now + CLOCK_SKEW_SECONDS
  ) {
    return oauthError('invalid_grant', SHORT_LIVED);
  }
  return { email, claims };
}

/** The refresh-token grant of the `authorized_user` credentials the emulator issued. */
function refreshGrant(form: URLSearchParams, ctx: EndpointContext): JsonAnswer {
  const clientId = form.get('client_id');
  if (!clientId) return oauthError('invalid_request', 'Could not determine client ID from request.');
  if (clientId !== USER_CLIENT.id) return oauthError('invalid_client', 'The OAuth client was not found.', 401);
  if (form.get('client_secret') !== USER_CLIENT.secret) return oauthError('invalid_client', 'Unauthorized', 401);
  const refreshToken = form.get('refresh_token');
  if (!refreshToken) return oauthError('invalid_request', 'Missing required parameter: refresh_token');
  const user = ctx.principals.userOf(refreshToken);
  if (!user) return oauthError('invalid_grant', 'Token has been expired or revoked.');
  // A user's ID token is for the OAuth client (aud = azp = client id), whatever target_audience says.
  return {
    status: 200,
    json: {
      access_token: ctx.principals.issueAccessToken(user),
      expires_in: ctx.lifetime - 1,
      scope: USER_SCOPES.join(' '),
      token_type: 'Bearer',
      id_token: ctx.mintIdToken(user, USER_CLIENT.id, { azp: USER_CLIENT.id }),
    },
  };
}

/** Stand-in for `https://sts.googleapis.com/v1/token` (token exchange). */
export function securityTokenService(form: URLSearchParams, ctx: EndpointContext): JsonAnswer {
  if (form.get('grant_type') !== TOKEN_EXCHANGE) {
    return oauthError('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
  }
  for (const name of ['audience', 'subject_token', 'subject_token_type', 'requested_token_type']) {
    if (!form.get(name)) return oauthError('invalid_request', `Missing required parameter: ${name}`);
  }
  if (form.get('requested_token_type') !== ACCESS_TOKEN_TYPE) {
    return oauthError('invalid_request', `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  const principal = `principal://${form.get('audience')!.replace(/^\/\//, '')}/subject/${form.get('subject_token')!.slice(0, 16)}`;
  return {
    status: 200,
    json: {
      access_token: ctx.principals.issueAccessToken(principal),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ctx.lifetime,
    },
  };
}

function accessTokenAnswer(ctx: EndpointContext, principal: string): JsonAnswer {
  return {
    status: 200,
    json: {
      access_token: ctx.principals.issueAccessToken(principal),
      expires_in: ctx.lifetime - 1,
      token_type: 'Bearer',
    },
  };
}

function parseSegment(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A claim value for an error message: short, and never more than 100 characters of it. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
