// gRPC credentials for plain @grpc/grpc-js clients; in Nest, `transport: 'grpc'` and @InjectGrpcCredentials().
export {
  createGrpcCredentials,
  createIdTokenCallCredentials,
  type GrpcCredentialsOptions,
} from '../outbound/grpc/grpc-credentials.factory.js';
