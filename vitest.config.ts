import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: {
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  test: {
    include: ['test/**/*.spec.ts'],
    // Apps tested against the packed package by test/fixtures/run.sh, with their own runners.
    exclude: [...configDefaults.exclude, 'test/fixtures/**'],
    reporters: ['default', './test/utils/summary.reporter.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
