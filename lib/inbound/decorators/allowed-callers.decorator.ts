import { SetMetadata } from '@nestjs/common';
import { compileAllowList } from '../allowed-callers.matcher.js';
import { ALLOWED_CALLERS_METADATA } from '../inbound.constants.js';

/**
 * Callers allowed on a controller or route, replacing the module-level `allowedCallers`
 * (a route's list wins over its controller's). Entries are those of `inbound.allowedCallers`:
 * exact emails (ASCII, compared ASCII case-insensitively), `*@PROJECT_ID.iam.gserviceaccount.com`,
 * `*@DOMAIN` (IAP callers only) or `sub:UNIQUE_ID` (ID-token callers only); anything else throws
 * when the class is loaded.
 *
 * On a route, it also brings the route back under the guard inside a `@SkipCloudRunAuth()`
 * controller, unless the route itself has `@SkipCloudRunAuth()`. It does not make a route
 * guarded on its own: the guard must run there (`@UseGuards(CloudRunAuthGuard)` or `mount`).
 *
 * ```ts
 * @AllowedCallers('scheduler@my-project.iam.gserviceaccount.com')
 * ```
 */
export function AllowedCallers(...emails: string[]): ClassDecorator & MethodDecorator {
  return SetMetadata(ALLOWED_CALLERS_METADATA, compileAllowList(emails, '@AllowedCallers()'));
}
