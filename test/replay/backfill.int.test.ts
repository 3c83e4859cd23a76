import { afterEach, describe, expect, it } from 'vitest';
import {
  createProjections,
  createReplay,
  createWorker,
  defineProjection,
  type EventStore,
  type ProjectionDefinition,
} from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { appendOrders, closeStore, openStore, q, settle, waitFor } from './helpers.js';

/** Counts applications per stream (`n = n + 1`): applying an event twice shows. */
function countingProjection(schema: string): ProjectionDefinition {
  return defineProjection({
    name: 'order_counts',
    handlers: {
      'order.paid': async (e, { query }) => {
        await query(
          `insert into "${schema}".order_counts (stream, n, last) values ($1, 1, $2)
           on conflict (stream) do update set n = order_counts.n + 1, last = excluded.last`,
          [e.stream, e.streamPosition],
        );
      },
    },
  });
}

async function counts(store: EventStore): Promise<{ n: number; streams: number; sum: number }> {
  const [row] = await store.executor.query<{ n: number; streams: number; sum: number }>(
    `select count(*)::int as streams, coalesce(sum(n), 0)::int as n, coalesce(sum(last), 0)::int as sum
       from ${q(store)}.order_counts`,
  );
  return row!;
}

/** A versioned read model that writes each order's last amount; `factor` 2 is the bug, 1 the fix. */
function summary(factor: number): ProjectionDefinition {
  return defineProjection({
    name: 'order_summary',
    version: 1,
    tables: {
      order_summary: 'create table :TABLE: (id text primary key, last_n int not null, amount int not null)',
    },
    handlers: {
      'order.paid': async (e, { query, tables }) => {
        const d = e.data as { n: number; amount: number };
        await query(
          `insert into ${tables.order_summary} (id, last_n, amount) values ($1, $2, $3)
           on conflict (id) do update set last_n = excluded.last_n, amount = excluded.amount`,
          [e.stream, d.n, d.amount * factor],
        );
      },
    },
  });
}

describe.skipIf(!pgAvailable())('backfills (PostgreSQL)', () => {
  let store: EventStore | undefined;
  afterEach(async () => {
    if (store) await closeStore(store);
    store = undefined;
  });

  it('feeds a handler-only consumer its history once; a second backfill and the live worker change nothing', async () => {
    store = await openStore();
    await store.executor.query(
      `create table ${q(store)}.order_counts (stream text primary key, n int, last int)`,
    );
    await appendOrders(store, 2000, 40);
    await settle(store);
    const def = countingProjection(store.schema);
    const replay = createReplay(store, { consumers: [def], pageSize: 300 });
    const plan = await replay.plan({ kind: 'backfill', consumer: 'order_counts' });
    const first = await replay.wait((await replay.start({ kind: 'backfill', consumer: 'order_counts' })).id);
    expect(plan.events).toBe(2000);
    expect(first).toMatchObject({ state: 'completed', done: 2000, applied: 2000, skipped: 0 });
    expect(await counts(store)).toMatchObject({ n: 2000, streams: 40 });

    const again = await replay.wait((await replay.start({ kind: 'backfill', consumer: 'order_counts' })).id);
    expect(again).toMatchObject({ state: 'completed', applied: 0, skipped: 2000 });
    expect(again.report.alreadyApplied).toBe(2000);
    expect(await counts(store)).toMatchObject({ n: 2000 });

    // The live worker shares the order guard: it finds everything applied, and applies only what is new.
    await appendOrders(store, 100, 10);
    const worker = createWorker(store, { from: 'log', consumers: [def], partitions: 2 });
    await worker.start();
    try {
      await waitFor('worker lag 0', async () => (await worker.health())[0]!.eventsBehind === 0);
    } finally {
      await worker.stop();
    }
    expect(await counts(store)).toMatchObject({ n: 2100 });
    await replay.stop();
  });

  it('a filtered backfill of a range, in parallel parts, applies each event once and keeps each stream in order', async () => {
    store = await openStore();
    await store.executor.query(
      `create table ${q(store)}.order_counts (stream text primary key, n int, last int)`,
    );
    await appendOrders(store, 1500, 30, 10);
    await settle(store);
    const def = countingProjection(store.schema);
    const replay = createReplay(store, { consumers: [def], pageSize: 200 });
    const job = await replay.wait(
      (
        await replay.start({
          kind: 'backfill',
          consumer: 'order_counts',
          concurrency: 4,
          streamPrefix: 'order-1',
        })
      ).id,
    );
    // order-1, order-10 … order-19: 11 streams of 50 events.
    expect(job).toMatchObject({ state: 'completed', done: 550, applied: 550 });
    expect(await counts(store)).toMatchObject({ streams: 11, n: 495 });
    await replay.stop();
  });

  it('reprocess re-applies a range after a handler fix: the read model then equals a rebuild (drift check)', async () => {
    store = await openStore();
    const readSchema = store.schema;
    await appendOrders(store, 1200, 60);
    await settle(store);
    const buggy = createProjections(store, { projections: [summary(2)], schema: readSchema });
    await buggy.start();
    await buggy.waitLive('order_summary', 30_000);
    await buggy.stop();

    const fixed = createProjections(store, { projections: [summary(1)], schema: readSchema });
    const drift = await fixed.checkDrift('order_summary');
    expect(drift.ok).toBe(false);

    const replay = createReplay(store, { consumers: [summary(1)], previewThreshold: 100_000 });
    const noop = await replay.wait((await replay.start({ kind: 'backfill', consumer: 'order_summary' })).id);
    expect(noop).toMatchObject({ state: 'completed', applied: 0, skipped: 1200 });
    expect((await fixed.checkDrift('order_summary')).ok).toBe(false);

    const job = await replay.wait(
      (await replay.start({ kind: 'backfill', consumer: 'order_summary', reprocess: true })).id,
    );
    expect(job).toMatchObject({ state: 'completed', applied: 1200 });
    expect(job.report.reprocessed).toBe(1200);
    const after = await fixed.checkDrift('order_summary');
    expect(after.ok).toBe(true);
    await replay.stop();
  });

  it('a handler failure fails the job at that event, nothing of its page kept; resume after the fix goes on', async () => {
    store = await openStore();
    await store.executor.query(
      `create table ${q(store)}.order_counts (stream text primary key, n int, last int)`,
    );
    await appendOrders(store, 300, 3);
    await settle(store);
    let broken = true;
    const schema = store.schema;
    const def = defineProjection({
      name: 'order_counts',
      handlers: {
        'order.paid': async (e, ctx) => {
          if (broken && e.stream === 'order-1' && e.streamPosition === 50) throw new Error('bug at 50');
          await countingProjection(schema).handlers['order.paid']!(e, ctx);
        },
      },
    });
    const replay = createReplay(store, { consumers: [def], pageSize: 30 });
    const failed = await replay.wait((await replay.start({ kind: 'backfill', consumer: 'order_counts' })).id);
    expect(failed.state).toBe('failed');
    expect(failed.report.error).toMatchObject({
      message: 'bug at 50',
      stream: 'order-1',
      streamPosition: 50,
    });
    const partial = await counts(store);
    expect(partial.n).toBe(failed.applied);
    expect(partial.n).toBeLessThan(300);
    broken = false;
    await replay.resume(failed.id);
    const done = await replay.wait(failed.id);
    expect(done).toMatchObject({ state: 'completed', applied: 300, done: 300 });
    expect(await counts(store)).toMatchObject({ n: 300 });
    await replay.stop();
  });
});
