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
 * `@nestjs/mercurius` put there by default), else Mercurius' `context.reply.request`. For a
 * subscription over graphql-ws (Apollo), `req` is graphql-ws' own context, whose
 * `extra.request` is the WebSocket upgrade request: that one carries the caller's headers.
 */
export function graphqlRequest(context: ExecutionContext): object | undefined {
  const gql = graphqlContext(context);
  if (!gql) return undefined;
  const request = asObject(gql.req) ?? asObject(asObject(gql.reply) && (gql.reply as { request?: unknown }).request);
  if (request === undefined || 'headers' in request) return request;
  const extra = asObject((request as { extra?: unknown }).extra);
  return asObject(extra && (extra as { request?: unknown }).request) ?? request;
}

/**
 * The HTTP response behind a GraphQL operation, when reachable (`res`, `reply`, or Express'
 * `req.res`) and still one: a subscription's operations run after the upgrade was answered, and
 * Mercurius gives them a `reply` that is no response at all.
 */
export function graphqlResponse(context: ExecutionContext): object | undefined {
  const gql = graphqlContext(context);
  if (!gql) return undefined;
  const request = graphqlRequest(context) as { res?: unknown } | undefined;
  const response = asObject(gql.res) ?? asObject(gql.reply) ?? asObject(request?.res);
  return response !== undefined && isOpenResponse(response) ? response : undefined;
}

/** A Fastify reply or a Node (Express) response whose headers have not been sent. */
function isOpenResponse(response: object): boolean {
  const candidate = response as { header?: unknown; setHeader?: unknown; headersSent?: unknown; sent?: unknown };
  const settable = typeof candidate.header === 'function' || typeof candidate.setHeader === 'function';
  return settable && candidate.headersSent !== true && candidate.sent !== true;
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
 * the HTTP request (`http`; `graphql`, else the GraphQL context object itself), the call's
 * context object (`rpc`: gRPC's `Metadata`), the message data (`ws`, when an object). Read by
 * argument index: `switchToHttp()` and its kin build closures on every call.
 */
export function identityCarrier(context: ExecutionContext): object | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return asObject(context.getArgByIndex(0));
    case 'graphql':
      return graphqlRequest(context) ?? graphqlContext(context);
    case 'rpc':
      return asObject(context.getArgByIndex(1)) ?? asObject(context.getArgByIndex(0));
    case 'ws':
      return asObject(context.getArgByIndex(1));
    default:
      return undefined;
  }
}
