import {
  Logger,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type OnApplicationBootstrap,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, ModulesContainer, Reflector } from '@nestjs/core';
import { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';
import { guardedProbeRoutes, PROBE_HINT } from '../inbound/guard/probe-routes.js';
import { RouteMetadataReader } from '../inbound/guard/route-metadata.reader.js';

/** The guard class a `mount` value asks for: `true` → `CloudRunAuthGuard`, a subclass → itself; else `undefined`. */
export function mountedGuard(mount: unknown): Type<CloudRunAuthGuard> | undefined {
  if (mount === true) return CloudRunAuthGuard;
  const isGuardClass =
    typeof mount === 'function' && (mount === CloudRunAuthGuard || mount.prototype instanceof CloudRunAuthGuard);
  return isGuardClass ? (mount as Type<CloudRunAuthGuard>) : undefined;
}

/**
 * The providers that mount `guard` on every route: the guard itself (so that `app.get(guard)`
 * finds it), and an `APP_GUARD` that runs the guard as Nest runs a `@UseGuards(guard)`
 * enhancer. That is what `@nestjs/testing`'s `overrideGuard(guard)` replaces (it never reaches
 * providers, such as an `APP_GUARD`), so a test's override applies to the mounted guard too.
 */
export function mountProviders(guard: Type<CloudRunAuthGuard>): Provider[] {
  // Its enhancer metadata makes `guard` an injectable of the module it is provided in.
  class MountedGuardHost {}
  UseGuards(guard)(MountedGuardHost);
  return [
    guard,
    MountedGuardHost,
    {
      provide: APP_GUARD,
      useFactory: (modules: ModulesContainer) => new MountedGuard(modules, MountedGuardHost, guard),
      inject: [ModulesContainer],
    },
  ];
}

/**
 * Runs the guard Nest built as an enhancer of `host` (found on first use: enhancers are built
 * after providers); warns at boot about routes that look like health probes and are not exempt.
 */
class MountedGuard implements CanActivate, OnApplicationBootstrap {
  private guard: CanActivate | undefined;

  constructor(
    private readonly modules: ModulesContainer,
    private readonly host: Type,
    private readonly guardClass: Type<CloudRunAuthGuard>,
  ) {}

  canActivate(context: ExecutionContext) {
    return (this.guard ??= enhancerOf(this.modules, this.host, this.guardClass)).canActivate(context);
  }

  onApplicationBootstrap(): void {
    const probes = guardedProbeRoutes(this.modules, new RouteMetadataReader(new Reflector()));
    if (probes.length === 0) return;
    new Logger('CloudRunAuth').warn(
      `inbound.mount guards ${probes.join(', ')}, which look${probes.length === 1 ? 's' : ''} like a health probe: ${PROBE_HINT}`,
    );
  }
}

/** The instance Nest built for `guard` as an enhancer of `host`, in the module that provides `host`. */
function enhancerOf(modules: ModulesContainer, host: Type, guard: Type<CloudRunAuthGuard>): CanActivate {
  for (const module of modules.values()) {
    if (!module.providers.has(host)) continue;
    const instance = module.injectables.get(guard)?.instance as CanActivate | undefined;
    if (instance && typeof instance.canActivate === 'function') return instance;
  }
  // Fail closed: a mounted guard that cannot be found must not let requests through.
  throw new Error(`the mounted ${guard.name} was not built by Nest`);
}
