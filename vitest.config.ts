import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    allowOnly: !process.env.CI,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.unit.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts'],
          // Integration files share the machine's services; two at a time keeps timing-sensitive tests honest on 2 cores.
          maxWorkers: 2,
          // Vitest 4 refuses projects with different maxWorkers in one sequence group: run int after unit.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
