import type { Provider } from '@nestjs/common';
import { createServiceClient } from '../outbound/client/service-client.factory.js';
import { getServiceClientToken } from '../outbound/client/service-client.token.js';
import { getGrpcCredentialsToken } from '../outbound/grpc/grpc-credentials.token.js';
import type {
  ResolvedServiceDefinition,
  ServiceDefinition,
  ServiceTransport,
} from '../outbound/service-definition.options.js';
import { IdTokenCache } from '../outbound/token/id-token.cache.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { CLOUD_RUN_AUTH_SERVICES } from './cloud-run-auth.constants.js';

/** A service as known when the module is declared: its name and transport decide its DI token. */
export interface DeclaredService {
  readonly name: string;
  readonly transport: ServiceTransport;
}

/** An entry of `forRootAsync`'s `serviceNames`: a name (an HTTP service), or a name and its transport. */
export type ServiceNameDeclaration = string | { name: string; transport: ServiceTransport };

/** The services of a `forRoot`/`forFeature` list; malformed entries are left to validation at boot. */
export function declaredServices(services: unknown): DeclaredService[] {
  if (!Array.isArray(services)) return [];
  const declared = new Map<string, DeclaredService>();
  for (const service of services as (Partial<ServiceDefinition> | null)[]) {
    if (typeof service?.name !== 'string' || declared.has(service.name)) continue;
    declared.set(service.name, { name: service.name, transport: service.transport === 'grpc' ? 'grpc' : 'http' });
  }
  return [...declared.values()];
}

/**
 * The services `forRootAsync` declares in `serviceNames`.
 * @throws CloudRunAuthConfigError naming the entry at fault.
 */
export function declaredServiceNames(serviceNames: unknown): DeclaredService[] {
  if (serviceNames === undefined) return [];
  if (!Array.isArray(serviceNames)) {
    throw new CloudRunAuthConfigError('must be an array of names', 'serviceNames');
  }
  const declared = serviceNames.map((entry: unknown, index): DeclaredService => {
    if (typeof entry === 'string' && entry.trim() !== '') return { name: entry, transport: 'http' };
    const { name, transport } = (entry ?? {}) as Partial<DeclaredService>;
    if (typeof name !== 'string' || name.trim() === '' || (transport !== 'http' && transport !== 'grpc')) {
      throw new CloudRunAuthConfigError(
        "must be a service name, or { name, transport: 'http' | 'grpc' }",
        `serviceNames[${index}]`,
      );
    }
    return { name, transport };
  });
  const names = declared.map(({ name }) => name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated) throw new CloudRunAuthConfigError(`lists "${repeated}" twice`, 'serviceNames');
  return declared;
}

/** The DI token of a service: its `ServiceClient`, or its gRPC `ChannelCredentials`. */
export function serviceToken({ name, transport }: DeclaredService): string {
  return transport === 'grpc' ? getGrpcCredentialsToken(name) : getServiceClientToken(name);
}

/** One provider per service, from the resolved services of its module (`CLOUD_RUN_AUTH_SERVICES`). */
export function serviceProviders(services: DeclaredService[]): Provider[] {
  return services.map((declared) => ({
    provide: serviceToken(declared),
    useFactory: (resolved: ReadonlyMap<string, ResolvedServiceDefinition>, cache: IdTokenCache) => {
      const service = resolved.get(declared.name)!;
      return declared.transport === 'grpc' ? grpcCredentials(service, cache) : createServiceClient(service, cache);
    },
    // Optional so that a forFeature() without forRoot() gets its own explanation, from CLOUD_RUN_AUTH_SERVICES.
    inject: [CLOUD_RUN_AUTH_SERVICES, { token: IdTokenCache, optional: true }],
  }));
}

/** Loads the gRPC support, hence `@grpc/grpc-js`, only for an application that declares a gRPC service. */
async function grpcCredentials(service: ResolvedServiceDefinition, cache: IdTokenCache): Promise<unknown> {
  let factory: typeof import('../outbound/grpc/grpc-credentials.factory.js');
  try {
    factory = await import('../outbound/grpc/grpc-credentials.factory.js');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes('@grpc/grpc-js');
    if (!missing) throw error;
    throw new CloudRunAuthConfigError(
      "is 'grpc', which needs the optional peer @grpc/grpc-js: npm install @grpc/grpc-js",
      `services[${service.name}].transport`,
    );
  }
  return factory.createServiceGrpcCredentials(service, cache);
}
