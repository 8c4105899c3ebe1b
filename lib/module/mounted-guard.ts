import type { Type } from '@nestjs/common';
import { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';

/** The guard class a `mount` value asks for: `true` → `CloudRunAuthGuard`, a subclass → itself; else `undefined`. */
export function mountedGuard(mount: unknown): Type<CloudRunAuthGuard> | undefined {
  if (mount === true) return CloudRunAuthGuard;
  const isGuardClass =
    typeof mount === 'function' && (mount === CloudRunAuthGuard || mount.prototype instanceof CloudRunAuthGuard);
  return isGuardClass ? (mount as Type<CloudRunAuthGuard>) : undefined;
}
