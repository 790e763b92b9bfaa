import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.spec.ts',
      'packages/*/test/**/*.test.ts',
      'services/*/src/**/*.spec.ts',
      'services/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores here: integration files each start their own nats-server and database.
    maxWorkers: 2,
  },
});
