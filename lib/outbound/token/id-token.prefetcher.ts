import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { IdTokenCache } from './id-token.cache.js';
import { CLOUD_RUN_AUTH_CONFIG } from '../../module/cloud-run-auth.constants.js';
import type { ResolvedCloudRunAuthOptions } from '../../module/resolved-options.interface.js';

/** With `prefetch: true`, warms the cache for every authenticated service; never fails boot. */
@Injectable()
export class IdTokenPrefetcher implements OnApplicationBootstrap {
  private readonly logger = new Logger('CloudRunAuth');

  constructor(
    @Inject(CLOUD_RUN_AUTH_CONFIG) private readonly config: ResolvedCloudRunAuthOptions,
    private readonly cache: IdTokenCache,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.prefetch) return;
    const services = [...this.config.services.values()].filter((service) => service.authenticate);
    // Services sharing an identity and audience join one fetch: the cache is single-flight.
    // Bounded by the cache's deadline; boot waits at most that long, and never fails.
    await Promise.all(
      services.map(({ audience, tokenProvider }) =>
        this.cache.getToken(audience, tokenProvider).catch((error: Error) => {
          this.logger.warn(`Prefetching an ID token for ${audience} failed; requests will retry: ${error.message}`);
        }),
      ),
    );
  }
}
