import { ConsoleLogger, Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { logLevelsUpTo, type ServiceConfig, type ServiceName } from './config.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { OrdersModule } from './orders/orders.module.js';

/** Message a service sends its parent (the local demo) over IPC once it listens. */
export interface ListeningMessage {
  type: 'listening';
  service: ServiceName;
  url: string;
}

/** Boots one service and listens on its `PORT` (all interfaces unless `HOST` is set). */
export async function serve({ service, config }: ServiceConfig): Promise<INestApplication> {
  const root = service === 'gateway' ? GatewayModule.register(config) : OrdersModule.register(config);
  // No colour codes unless a terminal shows them (Cloud Logging would print them verbatim).
  const logger = new ConsoleLogger({
    logLevels: ['fatal', ...logLevelsUpTo(config.logLevel)],
    colors: process.stdout.isTTY === true,
  });
  const app = await NestFactory.create(root, { logger });
  // Cloud Run sends SIGTERM before it stops an instance; close the server and the module cleanly.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await (config.host ? app.listen(config.port, config.host) : app.listen(config.port));
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  new Logger(service).log(config.host ? `listening on ${url}` : `listening on port ${config.port}, all interfaces`);

  if (process.send) {
    // Started by the local demo: report the address, and never outlive the demo.
    process.send({ type: 'listening', service, url } satisfies ListeningMessage);
    process.once('disconnect', () => {
      void app.close().finally(() => process.exit(0));
    });
  }
  return app;
}
