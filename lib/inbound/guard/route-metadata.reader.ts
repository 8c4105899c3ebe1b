import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { CallerAllowList } from '../allowed-callers.matcher.js';
import { ALLOWED_CALLERS_METADATA, SKIP_CLOUD_RUN_AUTH_METADATA } from '../inbound.constants.js';

/** The `@SkipCloudRunAuth()` and `@AllowedCallers()` settings of one route. */
export interface RouteMetadata {
  /** The controller the handler was read for (a handler can be inherited by several). */
  readonly controller: Function;
  readonly skip: boolean;
  /** The route's allow-list, else its controller's; `undefined` when neither has one. */
  readonly allowList: CallerAllowList | undefined;
}

/**
 * Reads a route's decorator settings with the `Reflector` on its first request and keeps them:
 * decorators are applied once, at class definition.
 */
export class RouteMetadataReader {
  private readonly byHandler = new WeakMap<Function, RouteMetadata>();

  constructor(private readonly reflector: Reflector) {}

  /** The settings of the route `context` runs (the route's own win over the controller's). */
  read(context: ExecutionContext): RouteMetadata {
    return this.readRoute(context.getHandler(), context.getClass());
  }

  /** The settings of `handler` as a route of `controller`. */
  readRoute(handler: Function, controller: Function): RouteMetadata {
    let metadata = this.byHandler.get(handler);
    if (metadata === undefined || metadata.controller !== controller) {
      const routeAllowList = this.reflector.get<CallerAllowList | undefined>(ALLOWED_CALLERS_METADATA, handler);
      metadata = {
        controller,
        skip: this.skip(handler, controller, routeAllowList !== undefined),
        allowList:
          routeAllowList ?? this.reflector.get<CallerAllowList | undefined>(ALLOWED_CALLERS_METADATA, controller),
      };
      this.byHandler.set(handler, metadata);
    }
    return metadata;
  }

  /**
   * The route's own `@SkipCloudRunAuth(true|false)` decides; else a route `@AllowedCallers()`
   * guards it even in a skipped controller (naming callers is the more specific intent);
   * else the controller's `@SkipCloudRunAuth()`.
   */
  private skip(handler: Function, controller: Function, routeHasAllowList: boolean): boolean {
    const onRoute = this.reflector.get<boolean | undefined>(SKIP_CLOUD_RUN_AUTH_METADATA, handler);
    if (onRoute !== undefined) return onRoute === true;
    if (routeHasAllowList) return false;
    return this.reflector.get<boolean | undefined>(SKIP_CLOUD_RUN_AUTH_METADATA, controller) === true;
  }
}
