import { IncomingMessage } from 'node:http';
import type { CallerIdentity } from './verifier/caller-identity.interface.js';

// Kept per request object, which the guard and param decorators share on Express and Fastify,
// in one of two places, whichever is cheaper for the kind of object:
// - Node's own IncomingMessage (the request on Express): a WeakMap. Express replaces these
//   objects' prototype, after which adding a property to one costs several times a WeakMap
//   entry (BENCHMARKS.md, the guard's sections).
// - Any other request object (Fastify's wrapper): an own property under a symbol no other
//   module has, which costs next to nothing, where a WeakMap entry costs garbage-collector work
//   on every request. Request data (headers, JSON bodies) cannot produce a symbol key.
const identities = new WeakMap<object, CallerIdentity>();
const CALLER_IDENTITY = Symbol('CloudRunAuth caller identity');

type WithIdentity = { [CALLER_IDENTITY]?: CallerIdentity };

// Which place suits a request is decided once per prototype (the kind of request object): an
// `instanceof` walks the prototype chain, which is long and slow to read on Express' requests.
let lastPrototype: unknown = null;
let lastIsNodeRequest = false;

/** Records the identity `CloudRunAuthGuard` verified for `request`. */
export function setCallerIdentity(request: object, identity: CallerIdentity): void {
  const prototype: unknown = Object.getPrototypeOf(request);
  if (prototype !== lastPrototype) {
    lastIsNodeRequest = request instanceof IncomingMessage;
    lastPrototype = prototype;
  }
  if (lastIsNodeRequest) identities.set(request, identity);
  else (request as WithIdentity)[CALLER_IDENTITY] = identity;
}

/** The identity `CloudRunAuthGuard` verified for `request`, if any. */
export function getCallerIdentity(request: object): CallerIdentity | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  return Object.hasOwn(request, CALLER_IDENTITY) ? (request as WithIdentity)[CALLER_IDENTITY] : identities.get(request);
}
