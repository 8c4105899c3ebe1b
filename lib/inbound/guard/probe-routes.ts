import { RequestMethod, type Type } from '@nestjs/common';
import { MetadataScanner, type ModulesContainer } from '@nestjs/core';
import type { RouteMetadataReader } from './route-metadata.reader.js';

// @nestjs/common's metadata keys of @Controller(), @Get() and friends, and @Header() (which
// @nestjs/terminus' @HealthCheck() uses to turn caching off); read as strings, not imported from
// one major's internal constants file.
const PATH_METADATA = 'path';
const METHOD_METADATA = 'method';
const HEADERS_METADATA = '__headers__';
const HEALTH_CHECK_CACHE_CONTROL = 'no-cache, no-store, must-revalidate';

/** A path segment health probes are usually served at. */
const PROBE_SEGMENT =
  /(?:^|\/)(?:health|healthz|healthcheck|health-check|ready|readyz|readiness|live|livez|liveness|startup|startupz)(?:\/|$)/i;

/** What a refusal of a token-less probe, and the boot warning, tell the operator. */
export const PROBE_HINT =
  "Cloud Run's startup and liveness probes send no token: exempt the route with @SkipCloudRunAuth() (on its method or controller)";

/** The route `handler` of `controller` as `GET /health`, and whether it looks like a health probe. */
export function describeRoute(controller: Function, handler: Function): { route: string; probe: boolean } {
  const path = [...pathsOf(controller), ...pathsOf(handler)].filter((p) => p !== '' && p !== '/').join('/');
  const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
  const route = `${method === undefined ? 'ALL' : RequestMethod[method]} /${path.replace(/^\/+/, '')}`;
  const headers = Reflect.getMetadata(HEADERS_METADATA, handler) as { name: string; value: string }[] | undefined;
  const terminus = headers?.some(
    (h) => h.name.toLowerCase() === 'cache-control' && h.value === HEALTH_CHECK_CACHE_CONTROL,
  );
  return { route, probe: PROBE_SEGMENT.test(path) || terminus === true };
}

function pathsOf(target: Function): string[] {
  const path = Reflect.getMetadata(PATH_METADATA, target) as string | string[] | undefined;
  // A route with several paths: the first names it.
  const first = Array.isArray(path) ? path[0] : path;
  return first === undefined ? [] : [first];
}

/**
 * The routes that look like health probes (by path, or `@HealthCheck()` of `@nestjs/terminus`)
 * and that a guard mounted on every route would refuse for want of a token: not skipped.
 */
export function guardedProbeRoutes(modules: ModulesContainer, routes: RouteMetadataReader): string[] {
  const found: string[] = [];
  const scanner = new MetadataScanner();
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (!controller?.prototype) continue;
      for (const name of scanner.getAllMethodNames(controller.prototype as object)) {
        const handler: unknown = Reflect.get(controller.prototype as object, name);
        if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        const { route, probe } = describeRoute(controller, handler);
        if (probe && !routes.readRoute(handler, controller).skip) found.push(`${route} (${controller.name}.${name})`);
      }
    }
  }
  return found;
}
