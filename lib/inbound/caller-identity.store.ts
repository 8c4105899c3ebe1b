import { IncomingMessage } from 'node:http';
import type { CallerIdentity } from './verifier/caller-identity.interface.js';

// Kept per request object, which the guard and param decorators share on Express and Fastify,
// in one of two places, whichever is cheaper for the kind of object:
// - Node's own IncomingMessage (the request on Express): a WeakMap. Express replaces these
//   objects' prototype, after which adding a property to one costs more than a WeakMap entry.
// - Any other request object (Fastify's wrapper): an own property under a symbol no other
//   module has, where a WeakMap entry would cost garbage-collector work on every request.
//   Request data (headers, JSON bodies) cannot produce a symbol key.
// BENCHMARKS.md, the guard's sections, has the measurements.
const identities = new WeakMap<object, CallerIdentity>();
const CALLER_IDENTITY = Symbol('CloudRunAuth caller identity');

type WithIdentity = { [CALLER_IDENTITY]?: CallerIdentity };

/**
 * Records the identity `CloudRunAuthGuard` verified for `request`.
 * @param nodeRequest whether `request` is a Node `IncomingMessage` (then it goes in the WeakMap);
 *   a caller that knows it already passes it, since the `instanceof` is slow on Express' requests.
 */
export function setCallerIdentity(
  request: object,
  identity: CallerIdentity,
  nodeRequest = request instanceof IncomingMessage,
): void {
  if (nodeRequest) identities.set(request, identity);
  else (request as WithIdentity)[CALLER_IDENTITY] = identity;
}

/** The identity `CloudRunAuthGuard` verified for `request`, if any. */
export function getCallerIdentity(request: object): CallerIdentity | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  return Object.hasOwn(request, CALLER_IDENTITY) ? (request as WithIdentity)[CALLER_IDENTITY] : identities.get(request);
}
