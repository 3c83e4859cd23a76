import { defineConfig } from 'vitest/config';
import { scaled } from './test/support/time.js';

/**
 * Files that hold PostgreSQL transactions open on purpose, or load the machine so much that timing tests beside them
 * starve (the chaos runs: two worker processes and a relay each). An open transaction delays every log reader of
 * every schema on the cluster, so these run alone, one file at a time, after every other file.
 */
const SERIAL = [
  'test/**/*.serial.test.ts',
  'test/store/gap-safety.int.test.ts',
  'test/consumers/chaos.int.test.ts',
  // A NATS cluster and many worker processes.
  'test/scale/**/*.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['./test/support/global-setup.ts'],
    // In CI, also write a machine-readable result that .ci/run sums up in its closing line.
    reporters: process.env.CI
      ? [
          'default',
          ['json', { outputFile: `test-results/${process.env.EVENTLANE_TEST_RESULT ?? 'vitest'}.json` }],
        ]
      : ['default'],
    allowOnly: !process.env.CI,
    // Every timeout derives from EVENTLANE_TEST_TIME_SCALE (test/support/time.ts); CI on a loaded machine sets 2–3.
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.unit.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts'],
          exclude: SERIAL,
          // Integration files share the machine's services; two at a time keeps timing-sensitive tests honest on 2 cores.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: { name: 'serial', include: SERIAL, maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
