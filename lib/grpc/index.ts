// `nestjs-cloud-run-auth/grpc`: in Nest, a `transport: 'grpc'` service's credentials are injected
// with @InjectGrpcCredentials(); plain @grpc/grpc-js clients build them with createGrpcCredentials().
export { getGrpcCredentialsToken, InjectGrpcCredentials } from '../outbound/grpc/grpc-credentials.token.js';
export {
  createGrpcCredentials,
  createIdTokenCallCredentials,
  type GrpcCredentialsOptions,
} from '../outbound/grpc/grpc-credentials.factory.js';
