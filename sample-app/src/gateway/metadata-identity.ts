import { Injectable, ServiceUnavailableException } from '@nestjs/common';

/**
 * Who this service runs as, asked the same way Google's libraries ask: the metadata server's
 * `service-accounts/default/email`. On Cloud Run that is the service's own service account;
 * locally, the emulator's (`GCE_METADATA_HOST`).
 */
@Injectable()
export class MetadataIdentity {
  private readonly host = process.env.GCE_METADATA_HOST || process.env.GCE_METADATA_IP || '169.254.169.254';

  async email(): Promise<{ email: string; metadataHost: string }> {
    const url = `http://${this.host}/computeMetadata/v1/instance/service-accounts/default/email`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' }, signal: AbortSignal.timeout(3000) });
    } catch (error) {
      throw new ServiceUnavailableException(
        `metadata server at ${this.host} not reachable (${(error as Error).message}); ` +
          'outside Google Cloud, run the emulator and set GCE_METADATA_HOST',
      );
    }
    if (!response.ok || response.headers.get('metadata-flavor') !== 'Google') {
      throw new ServiceUnavailableException(`metadata server at ${this.host} answered HTTP ${response.status}`);
    }
    return { email: (await response.text()).trim(), metadataHost: this.host };
  }
}
