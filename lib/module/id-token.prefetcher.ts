import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { IdTokenCache } from '../outbound/token/id-token.cache.js';
import { CLOUD_RUN_AUTH_CONFIG } from './cloud-run-auth.constants.js';
import { CloudRunAuthRegistry } from './cloud-run-auth.registry.js';
import type { ResolvedCloudRunAuthOptions } from './cloud-run-auth.options.js';

/** With `prefetch: true`, warms the cache for every authenticated service (root and features); never fails boot. */
@Injectable()
export class IdTokenPrefetcher implements OnApplicationBootstrap {
  private readonly logger = new Logger('CloudRunAuth');

  constructor(
    @Inject(CLOUD_RUN_AUTH_CONFIG) private readonly config: ResolvedCloudRunAuthOptions,
    private readonly cache: IdTokenCache,
    private readonly registry: CloudRunAuthRegistry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.prefetch) return;
    const services = this.registry.all().filter((service) => service.authenticate);
    // Services sharing an identity and audience join one fetch: the cache is single-flight.
    // Bounded by the cache's deadline; boot waits at most that long, and never fails.
    // A failure is logged by the cache (one warning per cause, with what to check); this line only says it was the prefetch.
    await Promise.all(
      services.map(({ name, audience, tokenProvider }) =>
        this.cache.getToken(audience, { provider: tokenProvider, service: name }).catch((error: Error) => {
          this.logger.debug(`Prefetching an ID token for ${audience} failed; requests will retry: ${error.message}`);
        }),
      ),
    );
  }
}
