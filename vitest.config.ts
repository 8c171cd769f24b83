import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration files start their own servers; two at a time fits a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
    // A test process whose event loop stops for good reports its stacks and dies (loop-watchdog.mjs).
    setupFiles: ['test/support/vitest-setup.ts'],
    // Under CI a JSON report too, from which .ci/run prints a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.tmp/vitest-report.json' },
  },
});
