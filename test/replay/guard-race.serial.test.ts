// Holds a worker's transaction open on purpose (its handler waits), hence serial.
import { afterEach, describe, expect, it } from 'vitest';
import { createReplay, createWorker, defineProjection, type EventStore } from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { closeStore, openStore, q, settle, waitFor } from './helpers.js';

let store: EventStore | undefined;
afterEach(async () => {
  if (store) await closeStore(store);
  store = undefined;
});

describe.skipIf(!pgAvailable())(
  'a backfill and a running worker on a stream the consumer never applied',
  () => {
    it('apply each of its events once: the order guard row is created and locked on both sides', async () => {
      const s = (store = await openStore());
      await s.executor.query(`create table ${q(s)}.order_counts (stream text primary key, n int)`);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let calls = 0;
      let first = true;
      const def = defineProjection({
        name: 'order_counts',
        handlers: {
          'order.paid': async (e, { query }) => {
            calls++;
            // The first application (the worker's) waits inside its transaction.
            if (first) {
              first = false;
              await gate;
            }
            await query(
              `insert into ${q(s)}.order_counts (stream, n) values ($1, 1)
             on conflict (stream) do update set n = order_counts.n + 1`,
              [e.stream],
            );
          },
        },
      });
      const worker = createWorker(s, { from: 'log', consumers: [def], partitions: 1 });
      await worker.start();
      let stopped = false;
      const replay = createReplay(s, { consumers: [def], pageSize: 100 });
      try {
        await s.append(
          'order-new',
          Array.from({ length: 5 }, (_, i) => ({ type: 'order.paid', data: { i } })),
        );
        await settle(s);
        await waitFor('the worker to hold its page', () => calls === 1);

        const job = await replay.start({ kind: 'backfill', consumer: 'order_counts' });
        // The backfill waits for the worker's lock on the stream's guard row; without it, it would apply all five.
        await waitFor('the backfill to wait on the guard row (or to finish without it)', async () => {
          const [row] = await s.executor.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
            where wait_event_type = 'Lock' and query like '%consumer_streams%' and query like $1`,
            [`%${q(s)}%`],
          );
          return row!.n > 0 || (await replay.get(job.id)).state === 'completed';
        });
        release();
        const done = await replay.wait(job.id);
        await waitFor('worker lag 0', async () => (await worker.health())[0]!.eventsBehind === 0);
        // The worker's page in flight commits (or rolls back) before stop() resolves.
        await worker.stop();
        stopped = true;
        const [counted] = await s.executor.query<{ n: number }>(
          `select n from ${q(s)}.order_counts where stream = 'order-new'`,
        );
        expect(counted!.n).toBe(5);
        expect(done).toMatchObject({ state: 'completed', applied: 0, skipped: 5 });
        expect(done.report.alreadyApplied).toBe(5);
      } finally {
        release();
        await replay.stop();
        if (!stopped) await worker.stop();
      }
    });
  },
);
