import { defineConfig } from 'vitest/config';

/**
 * `npm test`: every suite that passes on a busy 2-core machine. Load, soak and timing-sensitive suites (test/load/)
 * have their own command, `npm run test:load` (vitest.load.config.ts), which CI runs too.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/load/**', '**/node_modules/**'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
