import { defineConfig } from 'vitest/config';

// Unit tests run in parallel; integration tests create namespaces, TUN devices and
// processes, so they run one file at a time to keep the 2-core machine predictable.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
