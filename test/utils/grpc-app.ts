import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChannelCredentials, Metadata, ServerCredentials } from '@grpc/grpc-js';
import {
  Controller,
  Inject,
  Injectable,
  UseGuards,
  type INestMicroservice,
  type LoggerService,
  type OnModuleInit,
} from '@nestjs/common';
import { ClientsModule, Ctx, GrpcMethod, Payload, Transport, type ClientGrpc } from '@nestjs/microservices';
import { Test, type TestingModule } from '@nestjs/testing';
import { lastValueFrom, type Observable } from 'rxjs';
import {
  AllowedCallers,
  Caller,
  CloudRunAuthGuard,
  CloudRunAuthModule,
  type CloudRunAuthModuleOptions,
  type InboundOptions,
  type ServiceDefinition,
} from '../../lib/index.js';
import { getGrpcCredentialsToken } from '../../lib/grpc/index.js';

/** test/fixtures/caller.proto, package `caller`. */
export const CALLER_PROTO = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'caller.proto');
/** The only caller `Special` admits. */
export const OTHER_CALLER = 'other@other-project.iam.gserviceaccount.com';

/** A reply of `CallerService`. */
export interface CallerReply {
  email: string;
  note: string;
}

/** `CallerService`, guarded: the caller's email back, an allow-list of one, and the token headers seen. */
@Controller()
@UseGuards(CloudRunAuthGuard)
class CallerGrpcController {
  @GrpcMethod('CallerService', 'WhoAmI')
  whoAmI(@Payload() data: { note: string }, @Caller('email') email: string): CallerReply {
    return { email, note: data.note };
  }

  @GrpcMethod('CallerService', 'Special')
  @AllowedCallers(OTHER_CALLER)
  special(): CallerReply {
    return { email: 'never', note: '' };
  }

  @GrpcMethod('CallerService', 'TokenHeaders')
  tokenHeaders(@Ctx() metadata: Metadata, @Caller('email') email: string): CallerReply {
    const seen = ['authorization', 'x-serverless-authorization'].filter((key) => metadata.get(key).length > 0);
    return { email, note: seen.join(',') };
  }
}

/** A Nest gRPC microservice serving `CallerService` on loopback, guarded by `CloudRunAuthGuard`. */
export interface GuardedGrpcApp {
  app: INestMicroservice;
  /** `127.0.0.1:port`, the gRPC target. */
  address: string;
}

/** Options of {@link startGuardedGrpcApp}. */
export interface GuardedGrpcAppOptions {
  logger?: LoggerService | false;
  /** TLS; plain text without. */
  credentials?: ServerCredentials;
  /** @default a free port */
  port?: number;
}

/** Starts {@link GuardedGrpcApp}. */
export async function startGuardedGrpcApp(
  inbound: InboundOptions,
  options: GuardedGrpcAppOptions = {},
): Promise<GuardedGrpcApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [CloudRunAuthModule.forRoot({ inbound })],
    controllers: [CallerGrpcController],
  }).compile();
  const address = `127.0.0.1:${options.port ?? (await freePort())}`;
  const app = moduleRef.createNestMicroservice({
    transport: Transport.GRPC,
    options: { package: 'caller', protoPath: CALLER_PROTO, url: address, credentials: options.credentials },
    logger: options.logger ?? false,
  });
  await app.listen();
  return { app, address };
}

/** A free loopback port (Nest's gRPC server does not report the port it bound for `:0`). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `CallerService` as a Nest `ClientGrpc` exposes it. */
interface CallerService {
  whoAmI(request: { note: string }): Observable<CallerReply>;
  special(request: { note: string }): Observable<CallerReply>;
  tokenHeaders(request: { note: string }): Observable<CallerReply>;
}

/** The calling application's code: a `ClientGrpc` from `ClientsModule`, as Nest's docs show it. */
@Injectable()
export class CallerApi implements OnModuleInit {
  private service!: CallerService;

  constructor(@Inject('CALLER') private readonly client: ClientGrpc) {}

  onModuleInit(): void {
    this.service = this.client.getService<CallerService>('CallerService');
  }

  call(method: keyof CallerService): Promise<CallerReply> {
    return lastValueFrom(this.service[method]({ note: 'hi' }));
  }
}

/**
 * The calling application, as docs/outbound.md shows it: service `inventory` declared with
 * `transport: 'grpc'`, its credentials injected into `ClientsModule.registerAsync`, whose client
 * dials `target`. Close the returned module when done.
 */
export async function startGrpcCaller(
  service: Pick<ServiceDefinition, 'url'> & Partial<ServiceDefinition>,
  target: string,
  options: Omit<CloudRunAuthModuleOptions, 'services'> = {},
): Promise<{ api: CallerApi; moduleRef: TestingModule }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      CloudRunAuthModule.forRoot({ services: [{ name: 'inventory', transport: 'grpc', ...service }], ...options }),
      ClientsModule.registerAsync([
        {
          name: 'CALLER',
          inject: [getGrpcCredentialsToken('inventory')],
          useFactory: (credentials: ChannelCredentials) => ({
            transport: Transport.GRPC,
            options: { package: 'caller', protoPath: CALLER_PROTO, url: target, credentials },
          }),
        },
      ]),
    ],
    providers: [CallerApi],
  }).compile();
  await moduleRef.init();
  return { api: moduleRef.get(CallerApi), moduleRef };
}
