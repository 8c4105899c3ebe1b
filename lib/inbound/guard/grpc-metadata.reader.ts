import { HttpException } from '@nestjs/common';
import type { GrpcMetadataLike } from '../request.extractor.js';
import type { TokenHeader } from './token.extractor.js';

/** gRPC status codes of refusals (`@grpc/grpc-js`'s `status`, not imported). */
export const GRPC_STATUS = { UNKNOWN: 2, PERMISSION_DENIED: 7, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * The token "header" of a gRPC call: `x-serverless-authorization` when present, else
 * `authorization`, with the same rules as HTTP headers: repeated values are refused (metadata
 * keeps them all), binary values are malformed, long values are refused before parsing.
 */
export function readGrpcTokenHeader(metadata: GrpcMetadataLike, maxBytes: number): TokenHeader {
  const serverless = metadata.get('x-serverless-authorization');
  const header = serverless.length > 0 ? 'x-serverless-authorization' : 'authorization';
  const values = serverless.length > 0 ? serverless : metadata.get('authorization');
  if (values.length === 0) return { failure: 'missing_token' };
  if (values.length > 1) return { failure: 'duplicate_header', header };
  const value = values[0];
  if (typeof value !== 'string') return { failure: 'malformed_header', header };
  if (value.length > maxBytes) return { failure: 'header_too_large', header };
  return { value, header };
}

/** The gRPC status of a refusal: 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED, 503 → UNAVAILABLE. */
export function grpcStatusFor(error: unknown): number {
  const status = error instanceof HttpException ? error.getStatus() : 0;
  switch (status) {
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return GRPC_STATUS.PERMISSION_DENIED;
    case 503:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/**
 * The `RpcException` for a refusal in an `rpc` context. `@nestjs/microservices` is loaded only
 * here, on a refusal in an rpc context, where the application necessarily has it: Nest's rpc
 * exception filter passes only `RpcException`s on, anything else becomes "Internal server error".
 * gRPC gets `{ code, message }` (grpc-js sends `code` as the status and `message` as the
 * details); other transports `{ status, message }` with the HTTP-equivalent status.
 */
export async function rpcExceptionFor(error: unknown, grpc: boolean): Promise<Error> {
  if (!(error instanceof HttpException)) return error instanceof Error ? error : new Error(String(error));
  const { RpcException } = await import('@nestjs/microservices');
  const message = error.message;
  return grpc
    ? new RpcException({ code: grpcStatusFor(error), message })
    : new RpcException({ status: error.getStatus(), message });
}
