import { afterEach, describe } from 'vitest';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { unifiedScenarios } from './fixtures/unified.js';
import { openPgStore } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe.skipIf(!pgAvailable())('createWorker runs every kind of consumer on PostgreSQL', () => {
  unifiedScenarios({
    cleanups,
    holdInHandlers: true,
    async open() {
      const store = await openPgStore();
      cleanups.push(async () => {
        await store.close();
        await dropSchema(store.schema);
      });
      return store;
    },
  });
});
