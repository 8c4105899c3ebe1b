import { memoizeAccessToken } from './access-token.memo.js';
import type { CredentialSource } from './credential-source.interface.js';
import { fetchMetadataAccessToken, fetchMetadataIdToken } from './metadata.client.js';

/** The metadata server of Cloud Run, GCE or GKE: the runtime's own service account. */
export class MetadataSource implements CredentialSource {
  readonly description: string;
  readonly accessToken: (signal?: AbortSignal) => Promise<string>;

  constructor(private readonly host: string) {
    this.description = `metadata server at ${host}`;
    this.accessToken = memoizeAccessToken((signal) => fetchMetadataAccessToken(host, signal), this.description);
  }

  idToken(audience: string, signal?: AbortSignal): Promise<string> {
    return fetchMetadataIdToken(this.host, audience, signal);
  }
}
