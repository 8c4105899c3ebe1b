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
    const handler = context.getHandler();
    const controller = context.getClass();
    let metadata = this.byHandler.get(handler);
    if (metadata === undefined || metadata.controller !== controller) {
      const targets = [handler, controller];
      metadata = {
        controller,
        skip: this.reflector.getAllAndOverride<boolean | undefined>(SKIP_CLOUD_RUN_AUTH_METADATA, targets) === true,
        allowList: this.reflector.getAllAndOverride<CallerAllowList | undefined>(ALLOWED_CALLERS_METADATA, targets),
      };
      this.byHandler.set(handler, metadata);
    }
    return metadata;
  }
}
