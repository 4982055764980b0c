import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites each start their own Prosody; two cores, so keep the pool small.
    maxWorkers: 2,
    coverage: { provider: 'v8', include: ['src/**', 'devices/**'] },
  },
});
