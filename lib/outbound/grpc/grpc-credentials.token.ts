import { Inject } from '@nestjs/common';

/**
 * The DI token of the gRPC `ChannelCredentials` of service `name` (declared with
 * `transport: 'grpc'`): for `ClientsModule.registerAsync({ inject: [getGrpcCredentialsToken('inventory')] })`,
 * `moduleRef.get()`, or `overrideProvider()` in tests.
 */
export function getGrpcCredentialsToken(name: string): string {
  return `CloudRunAuthGrpcCredentials:${name}`;
}

/**
 * Injects the `ChannelCredentials` (of `@grpc/grpc-js`) of the service registered under `name`
 * with `transport: 'grpc'`: TLS, with an ID token from the shared cache on every call.
 */
export const InjectGrpcCredentials = (name: string): ParameterDecorator & PropertyDecorator =>
  Inject(getGrpcCredentialsToken(name));
