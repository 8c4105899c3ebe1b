import { Logger, type LoggerService } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { clock as libraryClock } from '../../lib/shared/clock.js';
import { startEmulator, type Emulator } from '../../lib/testing/index.js';

/**
 * The hooks of verifier tests that move time: one emulator for the file (certificates with
 * max-age 600 s), reset before each test, when `bind` receives it with the current time; the
 * library reads its clock from `now` until the file ends, and Nest logs to `logger`.
 */
export function useClockedEmulator(
  bind: (emu: Emulator, nowMs: number) => void,
  now: () => number,
  logger: LoggerService,
): void {
  let emu: Emulator | undefined;
  beforeAll(async () => {
    Logger.overrideLogger(logger);
    emu = await startEmulator({ certsMaxAgeSeconds: 600 });
  });
  beforeEach(() => {
    emu!.reset();
    bind(emu!, Date.now());
    libraryClock.now = now;
  });
  afterAll(() => {
    libraryClock.now = Date.now;
    return emu?.close();
  });
}
