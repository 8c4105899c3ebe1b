import type { TokenSource } from '../../shared/telemetry/telemetry.names.js';
import { AuthorizedUserSource } from './authorized-user.source.js';
import type { CredentialSource } from './credential-source.interface.js';
import { ExternalAccountSource } from './external-account.source.js';
import { ImpersonatedSource } from './impersonated.source.js';
import { MetadataSource } from './metadata.source.js';
import { ServiceAccountSource } from './service-account.source.js';

/** The kind of `source`, for metrics and logs (`impersonated` whatever the impersonating source is). */
export function credentialKind(source: CredentialSource): TokenSource {
  if (source instanceof MetadataSource) return 'metadata';
  if (source instanceof ServiceAccountSource) return 'service_account';
  if (source instanceof ImpersonatedSource) return 'impersonated';
  if (source instanceof ExternalAccountSource) return 'external_account';
  if (source instanceof AuthorizedUserSource) return 'authorized_user';
  return 'unknown';
}
