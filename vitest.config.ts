import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files that depend on a module's first load (grpc-js reads its roots variable once): they get
 * modules of their own. The others share each worker's loaded modules, which saves loading Nest
 * and the Google clients again for every file; test/setup.ts resets the process-wide state
 * (environment, Nest's logger, the library clock) before each file.
 */
const OWN_MODULES = ['test/grpc-outbound-tls.e2e.spec.ts'];

export default defineConfig({
  oxc: {
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  test: {
    reporters: ['default', './test/utils/summary.reporter.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Vitest's default leaves a core idle (one worker on a two-core machine); most files wait on
    // loopback I/O, so every core runs one.
    maxWorkers: availableParallelism(),
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.spec.ts'],
          // Apps tested against the packed package by test/fixtures/run.sh, with their own runners.
          // test/.snippets: documentation blocks, run by the spec that writes them (testing-your-services).
          exclude: [...configDefaults.exclude, 'test/fixtures/**', 'test/.snippets/**', ...OWN_MODULES],
          isolate: false,
        },
      },
      { extends: true, test: { name: 'own-modules', include: OWN_MODULES } },
    ],
  },
});
