import { defineConfig } from 'vitest/config';

/**
 * `npm run test:soak`: load tests that run for minutes (test/soak/*.soak.ts), kept out of
 * `npm test`. Same transform and setup as vitest.config.ts; one file at a time, since they
 * measure time and memory.
 */
export default defineConfig({
  oxc: {
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  test: {
    include: ['test/soak/**/*.soak.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
