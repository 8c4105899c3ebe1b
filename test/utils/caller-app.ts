import { Test } from '@nestjs/testing';
import type { INestApplication, LoggerService } from '@nestjs/common';
import {
  CloudRunAuthModule,
  getServiceClientToken,
  type CloudRunAuthModuleOptions,
  type ServiceClient,
} from '../../lib/index.js';

/** A real Nest application (initialised, not listening) with the module configured as given. */
export async function createCallerApp(
  options: CloudRunAuthModuleOptions,
  logger: LoggerService | false = false,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [CloudRunAuthModule.forRoot(options)] }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

export function clientOf(app: INestApplication, name: string): ServiceClient {
  return app.get<ServiceClient>(getServiceClientToken(name));
}
