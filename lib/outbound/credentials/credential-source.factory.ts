import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import { AuthorizedUserSource } from './authorized-user.source.js';
import { assertCredentialEndpoints } from './credential-endpoints.js';
import type { CredentialSource } from './credential-source.interface.js';
import { ExternalAccountSource } from './external-account.source.js';
import { ImpersonatedSource, parseImpersonationUrl } from './impersonated.source.js';
import { ServiceAccountSource } from './service-account.source.js';

/**
 * The source for one credentials JSON, by its `type`; `origin` says where it was found.
 * Its endpoints (nested `source_credentials` included) are checked first, so a file that would
 * send secrets in clear text fails before any request.
 */
export function sourceFromJson(json: Record<string, unknown>, origin: string): CredentialSource {
  assertCredentialEndpoints(json, origin);
  return build(json, origin);
}

function build(json: Record<string, unknown>, origin: string): CredentialSource {
  switch (json.type) {
    case 'service_account':
      return new ServiceAccountSource(json, origin);
    case 'authorized_user':
      return new AuthorizedUserSource(json, origin);
    case 'external_account':
      return new ExternalAccountSource(json, origin);
    case 'impersonated_service_account': {
      const description = `impersonated_service_account credentials (${origin})`;
      const target = parseImpersonationUrl(json.service_account_impersonation_url);
      const source = json.source_credentials;
      if (!target || !source || typeof source !== 'object') {
        throw new IdTokenFetchError(
          `${description} need source_credentials and an IAM Credentials service_account_impersonation_url; recreate them with ` +
            '`gcloud auth application-default login --impersonate-service-account=SA_EMAIL`',
          '',
          false,
        );
      }
      return new ImpersonatedSource(
        build(source as Record<string, unknown>, `source_credentials of ${origin}`),
        target.email,
        {
          delegates: Array.isArray(json.delegates) ? json.delegates.map(String) : [],
          iamCredentialsUrl: target.iamCredentialsUrl,
          description: `${description}, impersonating ${target.email}`,
        },
      );
    }
    default:
      throw new IdTokenFetchError(
        `credentials of type ${JSON.stringify(json.type)} (${origin}) are not supported; use a service_account key, ` +
          'impersonated_service_account or external_account credentials, or the metadata server',
        '',
        false,
      );
  }
}
