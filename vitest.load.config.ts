import { defineConfig } from 'vitest/config';

/**
 * `npm run test:load`: the suites that load the machine or bound how long something may take (slow clients cut off,
 * /healthz latency while large bodies are refused, the load and shutdown run). One file at a time, so that they do
 * not load the machine for each other.
 */
export default defineConfig({
  test: {
    include: ['test/load/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
