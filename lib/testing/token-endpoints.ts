import { iamCredentials } from './iam-credentials.js';
import { oauthToken, securityTokenService, type EndpointContext, type JsonAnswer } from './oauth-endpoints.js';

export type { EndpointContext, JsonAnswer } from './oauth-endpoints.js';

const IAM_PATH = /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+):(generateIdToken|generateAccessToken)$/;

/**
 * Routes the POST endpoints: Google's OAuth 2.0 token endpoint (`/token`: JWT-bearer and
 * refresh-token grants), STS (`/v1/token`: token exchange) and IAM Credentials
 * (`/v1/projects/-/serviceAccounts/SA:generateIdToken|generateAccessToken`), in their request
 * and response formats. `undefined` when the path is none of them.
 */
export function handleTokenEndpoint(
  path: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  ctx: EndpointContext,
): JsonAnswer | undefined {
  if (path === '/token') return oauthToken(new URLSearchParams(body), ctx);
  if (path === '/v1/token') return securityTokenService(new URLSearchParams(body), ctx);
  const iam = IAM_PATH.exec(path);
  if (!iam) return undefined;
  let account: string;
  try {
    account = decodeURIComponent(iam[1]!);
  } catch {
    account = iam[1]!;
  }
  return iamCredentials(account, iam[2] as 'generateIdToken' | 'generateAccessToken', headers.authorization, body, ctx);
}
