import type { EndpointContext, JsonAnswer } from './oauth-endpoints.js';

/** The methods of `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/SA:METHOD` it serves. */
export type IamMethod = 'generateIdToken' | 'generateAccessToken';

/** The request fields of each method (Google refuses unknown ones). */
const FIELDS: Record<IamMethod, readonly string[]> = {
  generateIdToken: ['name', 'audience', 'delegates', 'includeEmail', 'useEmailAzp'],
  generateAccessToken: ['name', 'delegates', 'scope', 'lifetime'],
};
/** An account id in a resource name or a delegate: an email or a numeric unique id. */
const ACCOUNT_ID = /^(?:[^\s@/]+@[^\s@/]+|\d{1,30})$/;
const MAX_LIFETIME_SECONDS = 3600;

/** `{"error": {"code", "message", "status"}}`, the shape of Google API errors. */
export function apiError(code: number, status: string, message: string): JsonAnswer {
  return { status: code, json: { error: { code, message, status } } };
}

const invalid = (message: string) => apiError(400, 'INVALID_ARGUMENT', message);

/**
 * Stand-in for IAM Credentials `generateIdToken` and `generateAccessToken` for `account`: any
 * access token the emulator issued may impersonate any account (there is no IAM policy here),
 * and requests are checked the way Google checks them: field names, types (booleans as JSON
 * booleans or the strings "true"/"false", as Google's JSON parser takes them), delegates,
 * lifetime. `includeEmail` adds `email` and `email_verified`; `useEmailAzp` makes `azp` the email.
 */
export function iamCredentials(
  account: string,
  method: IamMethod,
  authorization: unknown,
  body: string,
  ctx: EndpointContext,
): JsonAnswer {
  const bearer = typeof authorization === 'string' && /^Bearer /i.test(authorization) ? authorization.slice(7) : '';
  if (!ctx.principals.principalOf(bearer)) {
    return apiError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    );
  }
  if (!ACCOUNT_ID.test(account)) return invalidAccount(account);
  let request: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(body === '' ? '{}' : body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TypeError('not an object');
    request = parsed as Record<string, unknown>;
  } catch {
    return invalid('Invalid JSON payload received. The request body is not a JSON object.');
  }
  const unknown = Object.keys(request).find((name) => !FIELDS[method].includes(name));
  if (unknown !== undefined)
    return invalid(`Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`);
  const delegates = checkDelegates(request.delegates);
  if (typeof delegates !== 'undefined' && 'status' in delegates) return delegates;

  if (method === 'generateAccessToken') {
    const { scope } = request;
    if (!Array.isArray(scope) || scope.length === 0 || !scope.every((s) => typeof s === 'string' && s !== '')) {
      return invalid('Scope required.');
    }
    const lifetime = lifetimeSeconds(request.lifetime);
    if (typeof lifetime !== 'number') return lifetime;
    const expireTime = new Date(Date.now() + lifetime * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    return { status: 200, json: { accessToken: ctx.principals.issueAccessToken(account), expireTime } };
  }
  if (typeof request.audience !== 'string' || request.audience === '') {
    return invalid(request.audience === undefined ? 'Audience is required.' : 'Audience must be a non-empty string.');
  }
  const includeEmail = boolField(request, 'includeEmail', 'include_email');
  if (typeof includeEmail !== 'boolean') return includeEmail;
  const useEmailAzp = boolField(request, 'useEmailAzp', 'use_email_azp');
  if (typeof useEmailAzp !== 'boolean') return useEmailAzp;
  const token = ctx.mintIdToken(account, request.audience, { includeEmail, ...(useEmailAzp ? { azp: account } : {}) });
  return { status: 200, json: { token } };
}

/** `delegates`: absent, null, or a list of `projects/-/serviceAccounts/ACCOUNT` (bare ids accepted too). */
function checkDelegates(value: unknown): string[] | JsonAnswer | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return invalid(`Invalid value at 'delegates' (TYPE_STRING), ${JSON.stringify(value)}`);
  const names: string[] = [];
  for (const [i, delegate] of value.entries()) {
    if (typeof delegate !== 'string') {
      return invalid(`Invalid value at 'delegates[${i}]' (TYPE_STRING), ${JSON.stringify(delegate)}`);
    }
    const match = /^projects\/([^/]+)\/serviceAccounts\/([^/]+)$/.exec(delegate);
    if (match && match[1] !== '-') {
      return invalid(`The project in delegates[${i}] must be the "-" wildcard: projects/-/serviceAccounts/ACCOUNT.`);
    }
    const id = match ? match[2]! : delegate;
    if (!ACCOUNT_ID.test(id)) return invalidAccount(id);
    names.push(`projects/-/serviceAccounts/${id}`);
  }
  return names;
}

function boolField(request: Record<string, unknown>, field: string, protoName: string): boolean | JsonAnswer {
  const value = request[field];
  if (value === undefined || value === null || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  return invalid(`Invalid value at '${protoName}' (TYPE_BOOL), ${JSON.stringify(value)}`);
}

/** A protobuf Duration in JSON (`"3600s"`, `"1.5s"`), at most an hour; default an hour. */
function lifetimeSeconds(value: unknown): number | JsonAnswer {
  if (value === undefined || value === null) return MAX_LIFETIME_SECONDS;
  const match = typeof value === 'string' ? /^(\d+)(?:\.\d{1,9})?s$/.exec(value) : null;
  if (!match)
    return invalid(
      `Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`,
    );
  const seconds = Number(match[1]);
  if (seconds < 1 || seconds > MAX_LIFETIME_SECONDS) {
    return invalid(`The lifetime must be between 1s and ${MAX_LIFETIME_SECONDS}s, got ${match[0]}.`);
  }
  return seconds;
}

function invalidAccount(id: string): JsonAnswer {
  const shown = id.length > 100 ? `${id.slice(0, 100)}…` : id;
  return invalid(`Invalid form of account ID ${shown}. Should be [Gaia ID |Email |Unique ID |] of the account`);
}
