import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getCallerIdentity } from '../caller-identity.store.js';
import { identityCarrier } from '../request.extractor.js';
import type { CallerIdentity } from '../verifier/caller-identity.interface.js';

/**
 * The verified caller of the current request, GraphQL operation or gRPC call (`CallerIdentity`), or one of its fields:
 * `@Caller() caller: CallerIdentity`, `@Caller('email') email: string`.
 * Throws (a 500) on a route `CloudRunAuthGuard` did not authenticate, rather than returning nothing.
 */
export const Caller = createParamDecorator((field: keyof CallerIdentity | undefined, context: ExecutionContext) => {
  const carrier = identityCarrier(context);
  const identity = carrier && getCallerIdentity(carrier);
  if (!identity) {
    throw new Error('@Caller() is used on a route CloudRunAuthGuard did not authenticate (not guarded, or skipped)');
  }
  return field ? identity[field] : identity;
});
