import type { ExecutionContext } from '@nestjs/common';

/**
 * Reads, per execution context type, the objects the guard and `@Caller()` work on, without
 * loading `@nestjs/graphql`, `@nestjs/microservices` or `@grpc/grpc-js` (all optional).
 */

/** The GraphQL context object (the resolver's third argument), when `context` is a GraphQL one. */
function graphqlContext(context: ExecutionContext): Record<string, unknown> | undefined {
  const value: unknown = context.getArgs()[2];
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}

function asObject(value: unknown): object | undefined {
  return value !== null && typeof value === 'object' ? value : undefined;
}

/**
 * The HTTP request behind a GraphQL operation: `context.req` (what `@nestjs/apollo` and
 * `@nestjs/mercurius` put there by default), else Mercurius' `context.reply.request`.
 */
export function graphqlRequest(context: ExecutionContext): object | undefined {
  const gql = graphqlContext(context);
  if (!gql) return undefined;
  return asObject(gql.req) ?? asObject(asObject(gql.reply) && (gql.reply as { request?: unknown }).request);
}

/** The HTTP response behind a GraphQL operation, when reachable (`res`, `reply`, or Express' `req.res`). */
export function graphqlResponse(context: ExecutionContext): object | undefined {
  const gql = graphqlContext(context);
  if (!gql) return undefined;
  const request = graphqlRequest(context) as { res?: unknown } | undefined;
  return asObject(gql.res) ?? asObject(gql.reply) ?? asObject(request?.res);
}

/** A gRPC call's `Metadata` (duck-typed: `get` and `getMap` functions), when `context` is a gRPC call. */
export function grpcMetadata(context: ExecutionContext): GrpcMetadataLike | undefined {
  if (context.getType() !== 'rpc') return undefined;
  const candidate = context.switchToRpc().getContext<Partial<GrpcMetadataLike> | undefined>();
  return candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.get === 'function' &&
    typeof candidate.getMap === 'function'
    ? (candidate as GrpcMetadataLike)
    : undefined;
}

/** The part of `@grpc/grpc-js`'s `Metadata` the guard uses. */
export interface GrpcMetadataLike {
  get(key: string): (string | Uint8Array)[];
  getMap(): Record<string, unknown>;
}

/**
 * The per-call object the verified identity is kept on, shared by the guard and `@Caller()`:
 * the HTTP request (`http`, `graphql`), the call's context object (`rpc`: gRPC's `Metadata`),
 * the message data (`ws`, when an object).
 */
export function identityCarrier(context: ExecutionContext): object | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest<object>();
    case 'graphql':
      return graphqlRequest(context);
    case 'rpc':
      return asObject(context.switchToRpc().getContext()) ?? asObject(context.switchToRpc().getData());
    case 'ws':
      return asObject(context.switchToWs().getData());
    default:
      return undefined;
  }
}
