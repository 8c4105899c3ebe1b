import type { Provider } from '@nestjs/common';

/** Providers of the inbound side (verifier, key store, guard, optional APP_GUARD). */
export function createInboundProviders(): Provider[] {
  return [];
}

/** Inbound providers other modules may inject (the guard needs them where it is used). */
export const INBOUND_EXPORTS: Provider[] = [];
