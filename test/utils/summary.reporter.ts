import type { Reporter, SerializedError, TestModule } from 'vitest/node';

/**
 * Ends the run with one plain line, `vitest: N passed, N failed[, N skipped]`, that tools
 * reading a log can count without knowing vitest's own summary format.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = []): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      let failedTests = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed' || state === 'failed' || state === 'skipped') count[state] += 1;
        if (state === 'failed') failedTests += 1;
      }
      // A file that failed without a failed test (it did not load, or a beforeAll threw and its
      // tests were skipped) must not read as a pass.
      if (module.state() === 'failed' && failedTests === 0) count.failed += 1;
    }
    // Errors outside any test (an unhandled rejection) fail the run too.
    count.failed += unhandledErrors.length;
    const skipped = count.skipped ? `, ${count.skipped} skipped` : '';
    process.stdout.write(`\nvitest: ${count.passed} passed, ${count.failed} failed${skipped}\n`);
  }
}
