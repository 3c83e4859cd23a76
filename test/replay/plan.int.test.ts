import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReplay,
  defineProjection,
  defineReactor,
  ErrorCodes,
  type EventStore,
  type Replay,
} from '../../src/index.js';
import { rangePageParams, rangePageSql } from '../../src/replay/read-range.js';
import { pgAvailable } from '../support/stores.js';
import { appendOrders, closeStore, jobRows, openStore, q, settle } from './helpers.js';

const counter = defineProjection({
  name: 'paid_counter',
  handlers: { 'order.paid': () => Promise.resolve() },
});
const mailer = defineReactor({
  name: 'receipt_mailer',
  handlers: {
    'order.paid': async (e, { effect }) => {
      await effect('send-receipt', () => Promise.resolve({ sent: e.id }));
    },
  },
});

describe.skipIf(!pgAvailable())('replay plan and bad input (PostgreSQL)', () => {
  let store: EventStore;
  let replay: Replay;

  beforeAll(async () => {
    store = await openStore();
    await appendOrders(store, 3000, 30, 100);
    await settle(store);
    replay = createReplay(store, { consumers: [counter, mailer], previewThreshold: 1000 });
  });
  afterAll(async () => {
    await replay.stop();
    await closeStore(store);
  });

  it('counts the range by type, names the consumers touched and the effects a reactor would perform', async () => {
    const plan = await replay.plan({ kind: 'dry-run', consumer: 'receipt_mailer', maxEventsPerSecond: 1000 });
    expect(plan.events).toBe(3000);
    expect(plan.byType).toEqual({ 'order.paid': 2970, 'order.refunded': 30 });
    expect(plan.touches).toEqual([]);
    expect(plan.effects?.['send-receipt']?.count).toBe(2970);
    expect(plan.effects?.['send-receipt']?.alreadyPerformed).toBe(0);
    expect(plan.expectedMs).toBe(3000);
    expect(plan.previewRequired).toBe(true);
    const filtered = await replay.plan({
      kind: 'backfill',
      consumer: 'paid_counter',
      types: ['order.refunded'],
    });
    expect(filtered.byType).toEqual({ 'order.refunded': 30 });
    expect(filtered.touches).toEqual(['paid_counter']);
    expect(filtered.effects).toBeNull();
    // The plan wrote nothing: no job, no journal row.
    expect(await jobRows(store)).toBe(0);
    const [journal] = await store.executor.query<{ n: number }>(
      `select count(*)::int as n from ${q(store)}.effect_journal`,
    );
    expect(journal!.n).toBe(0);
  });

  it('refuses a job over the threshold without the preview token, and starts it with the token', async () => {
    await expect(replay.start({ kind: 'backfill', consumer: 'paid_counter' })).rejects.toMatchObject({
      code: ErrorCodes.REPLAY_PREVIEW_REQUIRED,
    });
    expect(await jobRows(store)).toBe(0);
    const plan = await replay.plan({ kind: 'backfill', consumer: 'paid_counter' });
    // Another range with this token is refused.
    await expect(
      replay.start({
        kind: 'backfill',
        consumer: 'paid_counter',
        types: ['order.paid'],
        previewToken: plan.previewToken,
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.REPLAY_PREVIEW_MISMATCH });
    await expect(
      replay.start({ kind: 'backfill', consumer: 'paid_counter', previewToken: 'r1.follow.forged' }),
    ).rejects.toMatchObject({ code: ErrorCodes.REPLAY_PREVIEW_MISMATCH });
    expect(await jobRows(store)).toBe(0);
    // Events appended after the plan are not in the previewed range: the token still fits, the range ends there.
    await store.append('order-late', [{ type: 'order.paid', data: { n: -1 } }]);
    const job = await replay.start({
      kind: 'backfill',
      consumer: 'paid_counter',
      previewToken: plan.previewToken,
    });
    expect(job.to).toBe(plan.to);
    expect(job.total).toBe(3000);
    const done = await replay.wait(job.id);
    expect(done.state).toBe('completed');
    expect(done.done).toBe(3000);
  });

  it('refuses bad input with typed errors and writes no job row', async () => {
    const before = await jobRows(store);
    const head = (await store.head()).checkpoint;
    const cases: [unknown, string][] = [
      [{ kind: 'backfill', consumer: 'paid_counter', from: head, to: '0:1' }, ErrorCodes.REPLAY_RANGE],
      [
        {
          kind: 'backfill',
          consumer: 'paid_counter',
          from: new Date('2030-01-02'),
          to: new Date('2030-01-01'),
        },
        ErrorCodes.REPLAY_RANGE,
      ],
      [{ kind: 'backfill', consumer: 'paid_counter', from: 'yesterday' }, ErrorCodes.REPLAY_RANGE],
      [{ kind: 'backfill', consumer: 'paid_counter', from: new Date('nope') }, ErrorCodes.REPLAY_RANGE],
      [{ kind: 'backfill', consumer: 'nobody' }, ErrorCodes.UNKNOWN_CONSUMER],
      [{ kind: 'backfill', consumer: 'receipt_mailer' }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'rebuild', consumer: 'receipt_mailer' }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'rebuild', consumer: 'paid_counter' }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'dry-run', consumer: 'paid_counter' }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'reactor-replay', consumer: 'receipt_mailer' }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'dry-run', consumer: 'receipt_mailer', reprocess: true }, ErrorCodes.REPLAY_MODE],
      [{ kind: 'backfill', consumer: 'paid_counter', maxEventsPerSecond: -5 }, ErrorCodes.INVALID_ARGUMENT],
      [
        { kind: 'backfill', consumer: 'paid_counter', maxEventsPerSecond: Number.NaN },
        ErrorCodes.INVALID_ARGUMENT,
      ],
      [
        { kind: 'backfill', consumer: 'paid_counter', maxEventsPerSecond: Infinity },
        ErrorCodes.INVALID_ARGUMENT,
      ],
      [{ kind: 'backfill', consumer: 'paid_counter', maxEventsPerSecond: 0 }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', concurrency: 0 }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'dry-run', consumer: 'receipt_mailer', concurrency: 4 }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', types: ['not a type'] }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', types: [] }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', streamPrefix: '' }, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', follow: true, to: head }, ErrorCodes.REPLAY_RANGE],
      [{ kind: 'sideways', consumer: 'paid_counter' }, ErrorCodes.INVALID_ARGUMENT],
      [null, ErrorCodes.INVALID_ARGUMENT],
      [{ kind: 'backfill', consumer: 'paid_counter', previewToken: 42 }, ErrorCodes.REPLAY_PREVIEW_MISMATCH],
    ];
    for (const [input, code] of cases) {
      await expect(replay.start(input as never), JSON.stringify(input)).rejects.toMatchObject({ code });
      if (code !== ErrorCodes.REPLAY_PREVIEW_MISMATCH) {
        await expect(replay.plan(input as never), JSON.stringify(input)).rejects.toMatchObject({ code });
      }
    }
    expect(await jobRows(store)).toBe(before);
    await expect(replay.get('no-such-job')).rejects.toMatchObject({ code: ErrorCodes.REPLAY_JOB_NOT_FOUND });
    await expect(replay.pause('no-such-job')).rejects.toMatchObject({
      code: ErrorCodes.REPLAY_JOB_NOT_FOUND,
    });
  });

  it('resolves times to checkpoints: a range by time covers the events recorded in it', async () => {
    const t0 = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await store.append('order-time', [
      { type: 'order.paid', data: { n: 1 } },
      { type: 'order.paid', data: { n: 2 } },
    ]);
    await settle(store);
    await new Promise((r) => setTimeout(r, 20));
    const t1 = new Date();
    const plan = await replay.plan({ kind: 'backfill', consumer: 'paid_counter', from: t0, to: t1 });
    expect(plan.events).toBe(2);
    const empty = await replay.plan({ kind: 'backfill', consumer: 'paid_counter', from: t1 });
    expect(empty.events).toBe(0);
  });

  it('reads a sparse type through the type + commit-order index, not through pages of other types', async () => {
    // 100,000 more events, 0.1 % of them of one type, written in one statement (the log's own columns).
    await store.executor.query(
      `insert into ${q(store)}.events (tx_order, id, stream, stream_position, type, version, data, metadata, occurred_at)
       select pg_current_xact_id(), gen_random_uuid(), 'bulk-' || (g % 1000), (g / 1000) + 1,
              case when g % 1000 = 7 then 'order.voided' else 'order.paid' end, 1, '{}', '{}', now()
         from generate_series(0, 99999) g`,
    );
    await store.executor.query(`analyze ${q(store)}.events`);
    const sql = rangePageSql(q(store), true);
    const params = rangePageParams({
      after: '0:0',
      to: null,
      types: ['order.voided'],
      streamPrefix: null,
      limit: 1000,
    });
    const [plan] = await store.executor.query<{ 'QUERY PLAN': unknown }>(
      `explain (analyze, buffers, format json) ${sql}`,
      params,
    );
    const text = JSON.stringify(plan!['QUERY PLAN']);
    expect(text).toContain('events_type_log_order_idx');
    // The only sequential scan allowed is of the one-row archive_state table (the read-through guard).
    const seqScans = [...text.matchAll(/"Node Type":"Seq Scan"[^{}]*?"Relation Name":"([a-z_]+)"/g)].map(
      (m) => m[1],
    );
    expect(seqScans.filter((relation) => relation !== 'archive_state')).toEqual([]);
    const root = (
      plan!['QUERY PLAN'] as {
        Plan: { 'Actual Rows': number; 'Shared Hit Blocks': number; 'Shared Read Blocks': number };
      }[]
    )[0]!.Plan;
    expect(root['Actual Rows']).toBe(100);
    const [size] = await store.executor.query<{ blocks: number }>(
      `select (pg_relation_size('${store.schema}.events') / 8192)::int as blocks`,
    );
    const blocks = root['Shared Hit Blocks'] + root['Shared Read Blocks'];
    // At most one heap block per event found, plus the index path: a fraction of the table.
    expect(blocks).toBeLessThan(100 + 20);
    expect(size!.blocks).toBeGreaterThan(blocks * 10);
  });
});
