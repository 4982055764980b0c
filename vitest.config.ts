import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests run the workspace package from its sources; the app's dist/ and the packed tarball use its dist/.
  resolve: { alias: { exi4js: fileURLToPath(new URL('./packages/exi4js/src/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites each start their own Prosody; two cores, so keep the pool small.
    maxWorkers: 2,
    coverage: { provider: 'v8', include: ['src/**', 'devices/**', 'packages/*/src/**'] },
  },
});
