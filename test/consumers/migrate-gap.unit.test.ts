import { describe, expect, it } from 'vitest';
import { createEventStore } from '../../src/index.js';
import { MIGRATIONS } from '../../src/store/migrate.js';

describe('migrate() with a gap in the migration ids (0002 lands from the relay branch later)', () => {
  it('applies a migration with a lower id after a higher one was applied, in id order', async () => {
    const store = await createEventStore();
    try {
      const applied = await store.executor.query<{ id: number }>(
        `select id from eventlane.migrations order by id`,
      );
      expect(applied.map((r) => r.id)).toEqual([1, 3]);
      // As if the relay branch merged: migration 2 appears in the list of a store already at 3.
      const list = MIGRATIONS as { id: number; name: string; sql: string }[];
      list.splice(1, 0, { id: 2, name: '0002_probe', sql: 'create table :SCHEMA:.probe (x int)' });
      try {
        expect(await store.migrate()).toEqual({ applied: ['0002_probe'], current: 3 });
        expect(await store.migrate()).toEqual({ applied: [], current: 3 });
      } finally {
        list.splice(1, 1);
      }
      await store.executor.query('select x from eventlane.probe');
    } finally {
      await store.close();
    }
  });
});
