/**
 * The retention test at full size: archive half of 1,000,000 events; the projection's drift check (a fold of
 * the whole log, half of it read through the archive, compared with the live tables) finds no difference, and the
 * live read model is untouched. The log is written with set-based SQL (10 transactions of 100,000 rows), so the run
 * takes minutes, not tens of minutes. ARCHIVE_1M_EVENTS overrides the size (a multiple of 10 × STREAMS).
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { archive, createProjections, type EventStore } from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { readTable, summary } from '../projections/fixtures/model.js';
import { closeStore, openStore, q } from '../replay/helpers.js';
import { checkpointAt, hotCount, tempDir } from '../retention/helpers.js';

const EVENTS = Number(process.env.ARCHIVE_1M_EVENTS ?? 1_000_000);
const STREAMS = 10_000;
const CHUNKS = 10;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `EVENTS` events over `STREAMS` streams `order-<i>`, each stream's positions 1 … EVENTS / STREAMS in commit order. */
async function writeLog(store: EventStore): Promise<void> {
  const per = EVENTS / CHUNKS;
  for (let c = 0; c < CHUNKS; c++) {
    await store.executor.query(
      `insert into ${q(store)}.events (tx_order, id, stream, stream_position, type, version, data, metadata, occurred_at)
       select pg_current_xact_id(), gen_random_uuid(), 'order-' || (i % $3), (i / $3) + 1,
              (array['order.created', 'order.paid', 'order.shipped'])[(i % 3) + 1], 1,
              jsonb_build_object('n', i, 'note', 'ä€😀'), jsonb_build_object('correlationId', 'c-' || i),
              now() - interval '1 day'
         from generate_series($1::bigint, $2::bigint) as i order by i`,
      [c * per, (c + 1) * per - 1, STREAMS],
    );
  }
  await store.executor.query(
    `insert into ${q(store)}.streams (stream, version, tx_order)
     select stream, max(stream_position), max(tx_order) from ${q(store)}.events group by stream`,
  );
  await store.executor.query(`vacuum analyze ${q(store)}.events`);
}

describe.skipIf(!pgAvailable())(`archive half of ${EVENTS.toLocaleString('en')} events`, () => {
  it(
    'a drift check of the projection afterwards (half read through the archive) finds it identical',
    async () => {
      const store = await openStore();
      cleanups.push(() => closeStore(store));
      const dir = tempDir(cleanups);
      const t0 = performance.now();
      await writeLog(store);
      const t1 = performance.now();
      expect(await hotCount(store)).toBe(EVENTS);

      const def = summary(1, { batch: true, name: 'sum', table: 'sum' });
      const projections = createProjections(store, {
        projections: [def],
        schema: store.schema,
        pageSize: 5000,
        pollMs: 50,
      });
      cleanups.push(() => projections.stop());
      await projections.start();
      await projections.waitLive('sum', scaled(900_000));
      const t2 = performance.now();
      const before = await readTable(store, `${q(store)}.sum`);
      expect(before.size).toBe(STREAMS);
      expect([...before.values()].reduce((n, r) => n + r.n, 0)).toBe(EVENTS);

      const result = await archive(store, { before: await checkpointAt(store, EVENTS / 2 - 1), to: dir });
      const t3 = performance.now();
      expect(result).toMatchObject({ exported: EVENTS / 2, deleted: EVENTS / 2, heldBy: [] });
      expect(await hotCount(store)).toBe(EVENTS / 2);

      const drift = await projections.checkDrift('sum');
      const t4 = performance.now();
      expect(drift.ok).toBe(true);
      expect(drift.tables[0]).toMatchObject({ liveRows: STREAMS, shadowRows: STREAMS, differences: [] });
      expect(await readTable(store, `${q(store)}.sum`)).toEqual(before);
      const s = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
      process.stderr.write(
        `archive-1m: ${EVENTS} events written in ${s(t0, t1)} s, projection built in ${s(t1, t2)} s, ` +
          `half archived in ${s(t2, t3)} s (${result.segments.length} segments), drift check in ${s(t3, t4)} s, ` +
          `total ${s(t0, t4)} s\n`,
      );
    },
    scaled(1_800_000),
  );
});
