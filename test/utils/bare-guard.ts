import { Reflector } from '@nestjs/core';
import type { CloudRunAuthGuard, IdTokenVerifier } from '../../lib/index.js';
import type { ResolvedInboundOptions } from '../../lib/inbound/inbound.options.js';

/**
 * A guard built without Nest, its dependencies set as Nest's injector sets them (properties),
 * then initialised as at boot: for tests that call `canActivate()` directly.
 */
export function bareGuard<G extends CloudRunAuthGuard>(
  Guard: new () => G,
  options: ResolvedInboundOptions,
  verifier: IdTokenVerifier,
): G {
  const guard = new Guard();
  Object.assign(guard, { options, verifier, reflector: new Reflector() });
  guard.onModuleInit();
  return guard;
}
