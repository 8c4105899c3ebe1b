import { SetMetadata } from '@nestjs/common';
import { SKIP_CLOUD_RUN_AUTH_METADATA } from '../inbound.constants.js';

/**
 * Opts a controller or route out of `CloudRunAuthGuard` (e.g. a health check under
 * `mount: true`). `@SkipCloudRunAuth(false)` on a route re-enables it inside a skipped controller.
 * @param skip @default true
 */
export function SkipCloudRunAuth(skip = true): ClassDecorator & MethodDecorator {
  return SetMetadata(SKIP_CLOUD_RUN_AUTH_METADATA, skip);
}
