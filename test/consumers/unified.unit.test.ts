import { afterEach, describe } from 'vitest';
import { createEventStore } from '../../src/index.js';
import { unifiedScenarios } from './fixtures/unified.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('createWorker runs every kind of consumer on the embedded store (PGlite)', () => {
  unifiedScenarios({
    cleanups,
    holdInHandlers: false,
    async open() {
      const store = await createEventStore();
      cleanups.push(() => store.close());
      return store;
    },
  });
});
