import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    setupFiles: ['test/setup.ts'],
    globalSetup: ['test/s3/global-setup.ts', 'test/stress/global-setup.ts'],
  },
});
