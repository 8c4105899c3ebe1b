import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { startEmulator, type Emulator } from '../../lib/testing/index.js';
import { startTarget, type Target } from './target.js';

/** The emulator (as metadata server) and a target service, both on loopback. */
export interface LoopbackStack {
  emu: Emulator;
  target: Target;
}

/**
 * The hooks most e2e files share: one emulator for the file, reset before each test and set as
 * the metadata server (`GCE_METADATA_HOST`), and a fresh target per test. The target closes
 * after the file's own `afterEach` hooks (registered later, run earlier), which close the apps
 * that call it.
 * @param bind receives the stack before each test.
 * @param targetHost the target's listening address. @default '127.0.0.1'
 */
export function useLoopbackStack(bind: (stack: LoopbackStack) => void, targetHost?: string): void {
  let emu: Emulator | undefined;
  let target: Target | undefined;
  beforeAll(async () => {
    emu = await startEmulator();
  });
  afterAll(() => emu?.close());
  beforeEach(async () => {
    emu!.reset();
    process.env.GCE_METADATA_HOST = emu!.metadataHost;
    target = await startTarget(undefined, targetHost);
    bind({ emu: emu!, target });
  });
  afterEach(() => target?.close());
}
