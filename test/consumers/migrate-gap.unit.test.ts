import { describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../src/index.js';
import { MIGRATIONS } from '../../src/store/migrate.js';

describe('migrate() with a gap in the applied migration ids', () => {
  it('applies a migration with a lower id after higher ones were applied, in id order', async () => {
    const list = MIGRATIONS as { id: number; name: string; sql: string }[];
    const latest = list[list.length - 1]!.id;
    // A store migrated by a build that did not have migration 11 (the archive's segment scope) yet, but had 12:
    // opened by one that has both. (A lower migration that later ones build on, such as 9 for 11 or 10 for 12,
    // cannot be left out this way.)
    const at = list.findIndex((m) => m.id === 11);
    const [second] = list.splice(at, 1);
    let store: EventStore;
    try {
      store = await createEventStore();
    } finally {
      list.splice(at, 0, second!);
    }
    try {
      const before = await store.executor.query<{ id: number }>(
        `select id from eventlane.migrations order by id`,
      );
      expect(before.map((r) => r.id)).toEqual(list.filter((m) => m.id !== second!.id).map((m) => m.id));
      expect(await store.migrate()).toEqual({ applied: [second!.name], current: latest });
      expect(await store.migrate()).toEqual({ applied: [], current: latest });
    } finally {
      await store.close();
    }
  });
});
