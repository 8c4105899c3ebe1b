import { Module, type DynamicModule } from '@nestjs/common';
import { CloudRunAuthModule } from 'nestjs-cloud-run-auth';
import type { GatewayConfig } from '../config.js';
import { GatewayController } from './gateway.controller.js';
import { MetadataIdentity } from './metadata-identity.js';

@Module({})
export class GatewayModule {
  static register(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        CloudRunAuthModule.forRoot({
          services: [{ name: 'orders', url: config.ordersUrl, audience: config.ordersAudience }],
          // Warm the token cache at boot so the first request does not wait for the metadata server.
          prefetch: true,
        }),
      ],
      controllers: [GatewayController],
      providers: [MetadataIdentity],
    };
  }
}
