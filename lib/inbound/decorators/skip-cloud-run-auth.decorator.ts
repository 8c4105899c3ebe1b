import { SetMetadata } from '@nestjs/common';
import { SKIP_CLOUD_RUN_AUTH_METADATA } from '../inbound.constants.js';

/**
 * Opts a controller or route out of `CloudRunAuthGuard` (e.g. a health check under
 * `mount: true`). Inside a skipped controller, a route is guarded again by
 * `@SkipCloudRunAuth(false)` or by its own `@AllowedCallers()`; a route's own
 * `@SkipCloudRunAuth(true|false)` wins over everything else. A controller with both this and
 * `@AllowedCallers()` stays skipped.
 * @param skip @default true
 */
export function SkipCloudRunAuth(skip = true): ClassDecorator & MethodDecorator {
  return SetMetadata(SKIP_CLOUD_RUN_AUTH_METADATA, skip);
}
