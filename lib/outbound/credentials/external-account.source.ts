import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { ACCESS_TOKEN_TIMEOUT_MS, memoizeAccessToken } from './access-token.memo.js';
import type { CredentialSource } from './credential-source.interface.js';
import { ImpersonatedSource, parseImpersonationUrl } from './impersonated.source.js';

/**
 * Workload identity federation (`"type": "external_account"`). google-auth-library exchanges
 * the external subject token for a federated access token at the file's `token_url`; that
 * token then calls IAM Credentials `generateIdToken` for the service account named in
 * `service_account_impersonation_url` (which google-auth-library itself cannot do).
 */
export class ExternalAccountSource implements CredentialSource {
  readonly description: string;
  readonly accessToken: (signal?: AbortSignal) => Promise<string>;
  private readonly impersonated?: ImpersonatedSource;

  constructor(json: Record<string, unknown>, origin: string) {
    this.description = `external_account (workload identity federation) credentials (${origin})`;
    const {
      service_account_impersonation_url: impersonationUrl,
      service_account_impersonation: _,
      ...federated
    } = json;
    this.accessToken = memoizeAccessToken(async () => {
      const { ExternalAccountClient } = await import('google-auth-library');
      try {
        const client = ExternalAccountClient.fromJSON(federated as never);
        if (!client) throw new Error('not an external_account configuration');
        // google-auth-library takes no signal; its own HTTP calls get a timeout, and the memo
        // abandons the exchange at ACCESS_TOKEN_TIMEOUT_MS whatever they do.
        limitRequestTime(client, ACCESS_TOKEN_TIMEOUT_MS);
        const { token } = await client.getAccessToken();
        if (!token) throw new Error('no access token returned');
        const expiry = client.credentials.expiry_date;
        return { token, expiresInSeconds: expiry ? (expiry - Date.now()) / 1000 : 300 };
      } catch (error) {
        const status = (error as { response?: { status?: number }; status?: number }).response?.status;
        throw new IdTokenFetchError(
          `${this.description}: the token exchange at ${typeof federated.token_url === 'string' ? federated.token_url : 'sts.googleapis.com'} failed` +
            (status ? ` (HTTP ${status})` : `: ${(error as Error).message}`),
          '',
          status === undefined || status >= 500 || status === 429,
        );
      }
    }, this.description);
    if (impersonationUrl !== undefined) {
      const parsed = parseImpersonationUrl(impersonationUrl);
      if (!parsed) {
        throw new IdTokenFetchError(
          `${this.description}: service_account_impersonation_url is not an IAM Credentials generateAccessToken URL`,
          '',
          false,
        );
      }
      this.impersonated = new ImpersonatedSource(this, parsed.email, {
        iamCredentialsUrl: parsed.iamCredentialsUrl,
        description: `${this.description}, impersonating ${parsed.email}`,
      });
    }
  }

  async idToken(audience: string, signal?: AbortSignal): Promise<string> {
    if (!this.impersonated) {
      throw new IdTokenFetchError(
        `${this.description} have no service_account_impersonation_url. A federated identity cannot hold a Google ID token ` +
          'itself: grant it roles/iam.workloadIdentityUser on a service account and recreate the file with ' +
          '`gcloud iam workload-identity-pools create-cred-config ... --service-account=SA_EMAIL`, ' +
          'or set the `impersonate` credentials option.',
        audience,
        false,
      );
    }
    return this.impersonated.idToken(audience, signal);
  }
}

/** Sets a timeout on the Gaxios transporters of a google-auth-library client: its own, and its STS client's. */
function limitRequestTime(client: object, timeoutMs: number): void {
  const transporters = [
    (client as { transporter?: unknown }).transporter,
    (client as { stsCredential?: { transporter?: unknown } }).stsCredential?.transporter,
  ];
  for (const transporter of transporters) {
    const defaults = (transporter as { defaults?: { timeout?: number } } | undefined)?.defaults;
    if (defaults && typeof defaults === 'object') defaults.timeout = timeoutMs;
  }
}
