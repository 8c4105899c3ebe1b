import { Module, type DynamicModule } from '@nestjs/common';
import { CloudRunAuthModule } from 'nestjs-cloud-run-auth';
import type { OrdersConfig } from '../config.js';
import { OrdersController } from './orders.controller.js';

@Module({})
export class OrdersModule {
  static register(config: OrdersConfig): DynamicModule {
    return {
      module: OrdersModule,
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: {
            audience: config.audience,
            allowedCallers: config.allowedCallers,
            mode: config.mode,
            // CloudRunAuthGuard as APP_GUARD: every route is protected unless @SkipCloudRunAuth().
            mount: true,
            ...(config.certsUrl ? { certsUrl: config.certsUrl } : {}),
          },
        }),
      ],
      controllers: [OrdersController],
    };
  }
}
