import { describe, expect, it } from 'vitest';
import { createEventStore, createWorker, defineProjection } from '../../src/index.js';
import { waitFor } from './helpers.js';

describe('createWorker on the embedded store (PGlite)', () => {
  it('runs a projection from the log with the order guard and checkpoints', async () => {
    const store = await createEventStore();
    try {
      await store.executor.query(
        `create table totals (stream text primary key, total bigint not null, last int not null)`,
      );
      const p = defineProjection({
        name: 'totals',
        handlers: {
          'item.added': async (e, { query }) => {
            await query(
              `insert into totals values ($1, $2, $3)
               on conflict (stream) do update set total = totals.total + excluded.total, last = excluded.last
               where totals.last + 1 = excluded.last`,
              [e.stream, (e.data as { amount: number }).amount, e.streamPosition],
            );
          },
        },
      });
      for (let i = 0; i < 200; i++)
        await store.append(`s-${i % 10}`, [{ type: 'item.added', data: { amount: i } }]);
      const worker = createWorker(store, { from: 'log', consumers: [p], partitions: 4 });
      await worker.start();
      await waitFor('caught up', async () => (await worker.health())[0]!.eventsBehind === 0, 20_000);
      await worker.stop();
      const [row] = await store.executor.query<{ total: string; last: string }>(
        `select sum(total)::text as total, sum(last)::text as last from totals`,
      );
      expect(row).toEqual({ total: String((199 * 200) / 2), last: '200' });
    } finally {
      await store.close();
    }
  });
});
