import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { resolveSecureUrl } from '../../shared/options/option.assertions.js';

/** Per credentials type: how its source names it in errors, and the fields that are URLs it sends secrets to. */
const ENDPOINT_FIELDS = new Map<unknown, { label: string; fields: string[] }>([
  ['service_account', { label: 'service_account key', fields: ['token_uri'] }],
  ['authorized_user', { label: 'authorized_user credentials', fields: ['token_uri'] }],
  [
    'external_account',
    {
      label: 'external_account (workload identity federation) credentials',
      fields: ['token_url', 'service_account_impersonation_url', 'credential_source.url'],
    },
  ],
  [
    'impersonated_service_account',
    { label: 'impersonated_service_account credentials', fields: ['service_account_impersonation_url'] },
  ],
]);

// AWS and Azure serve federation's subject token over plain http at their instance metadata
// address, which the hypervisor answers and no network routes.
const INSTANCE_METADATA_HOSTS = new Set(['169.254.169.254', '[fd00:ec2::254]']);

/**
 * Applies the options' URL rule (https, or plain http to loopback) to the endpoints a credentials
 * JSON names, `source_credentials` included, before any source is built: a file must not send a
 * key's assertion, a refresh token or an access token in clear text over a network.
 */
export function assertCredentialEndpoints(json: Record<string, unknown>, origin: string): void {
  const spec = ENDPOINT_FIELDS.get(json.type);
  if (!spec) return; // an unsupported type is refused by the factory
  for (const field of spec.fields) {
    const value = field === 'credential_source.url' ? credentialSourceUrl(json) : json[field];
    if (value === undefined || (field === 'credential_source.url' && isInstanceMetadataUrl(value))) continue;
    try {
      resolveSecureUrl(value, field);
    } catch (error) {
      if (!(error instanceof CloudRunAuthConfigError)) throw error;
      throw new IdTokenFetchError(`${field} of ${spec.label} (${origin}) ${error.problem}`, '', false);
    }
  }
  const source = json.source_credentials;
  if (json.type === 'impersonated_service_account' && source && typeof source === 'object') {
    assertCredentialEndpoints(source as Record<string, unknown>, `source_credentials of ${origin}`);
  }
}

function credentialSourceUrl(json: Record<string, unknown>): unknown {
  const source = json.credential_source;
  return source && typeof source === 'object' ? (source as Record<string, unknown>).url : undefined;
}

function isInstanceMetadataUrl(value: unknown): boolean {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const url = new URL(value);
  return url.protocol === 'http:' && INSTANCE_METADATA_HOSTS.has(url.hostname);
}
