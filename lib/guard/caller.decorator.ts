import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { CallerIdentity } from '../verify/caller-identity.interface.js';

// Keyed by the request object, which the guard and param decorators share on Express and Fastify.
const identities = new WeakMap<object, CallerIdentity>();

/** Records the identity `CloudRunAuthGuard` verified for `request`. */
export function setCallerIdentity(request: object, identity: CallerIdentity): void {
  identities.set(request, identity);
}

/** The identity `CloudRunAuthGuard` verified for `request`, if any. */
export function getCallerIdentity(request: object): CallerIdentity | undefined {
  return identities.get(request);
}

/**
 * The verified caller of the current request (`CallerIdentity`), or one of its fields:
 * `@Caller() caller: CallerIdentity`, `@Caller('email') email: string`.
 * Throws (a 500) on a route `CloudRunAuthGuard` did not authenticate, rather than returning nothing.
 */
export const Caller = createParamDecorator((field: keyof CallerIdentity | undefined, context: ExecutionContext) => {
  const identity = identities.get(context.switchToHttp().getRequest<object>());
  if (!identity) {
    throw new Error('@Caller() is used on a route CloudRunAuthGuard did not authenticate (not guarded, or skipped)');
  }
  return field ? identity[field] : identity;
});
