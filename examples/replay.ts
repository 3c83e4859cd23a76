/**
 * Replay jobs on the embedded store: feed a new consumer its history (a backfill), see what a reactor would do
 * (a dry run), then let it run live through the effect journal, and watch progress.
 *
 * node --import tsx examples/replay.ts                              (embedded)
 * DATABASE_URL=postgres://… node --import tsx examples/replay.ts    (a PostgreSQL server)
 */
import { z } from 'zod';
import {
  createEventStore,
  createReplay,
  defineEvent,
  defineProjection,
  defineReactor,
} from '../src/index.js';

// Contracts type the appends and the handlers: `e.data.amount` below is a number, no cast.
const OrderCreated = defineEvent({
  type: 'order.created',
  owner: 'orders',
  versions: { 1: z.object({ total: z.number() }) },
});
const OrderPaid = defineEvent({
  type: 'order.paid',
  owner: 'payments',
  versions: { 1: z.object({ amount: z.number() }) },
});
const events = [OrderCreated, OrderPaid];

const store = await createEventStore({
  ...(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL, schema: 'replay_example' } : {}),
  events,
});
await store.executor.query(
  'create table if not exists paid_totals (stream text primary key, total int not null)',
);

for (let i = 0; i < 20; i++) {
  await store.append(`order-${i}`, [
    OrderCreated.create({ total: 10 + i }),
    OrderPaid.create({ amount: 10 + i }),
  ]);
}

// A handler-only projection (as createWorker runs it): the order guard keeps what it applied.
const paidTotals = defineProjection({
  name: 'paid_totals',
  events,
  handlers: {
    'order.paid': async (e, { query }) => {
      await query(
        `insert into paid_totals (stream, total) values ($1, $2)
         on conflict (stream) do update set total = paid_totals.total + excluded.total`,
        [e.stream, e.data.amount],
      );
    },
  },
});

// A reactor: each effect goes through the journal, keyed consumer:event:effect.
let mails = 0;
const receipts = defineReactor({
  name: 'receipts',
  events,
  handlers: {
    'order.paid': async (e, { effect }) => {
      await effect('send-receipt', (idempotencyKey) => {
        mails++; // a mail provider would get idempotencyKey
        return Promise.resolve({ id: idempotencyKey });
      });
    },
  },
});

const replay = createReplay(store, { consumers: [paidTotals, receipts] });

// 1. Preview, then backfill the projection with its history, filtered to one type, at most 5,000 events/s.
const plan = await replay.plan({
  kind: 'backfill',
  consumer: 'paid_totals',
  types: ['order.paid'],
  maxEventsPerSecond: 5000,
});
console.log('plan', { events: plan.events, byType: plan.byType, expectedMs: plan.expectedMs });
const backfill = await replay.start({
  kind: 'backfill',
  consumer: 'paid_totals',
  types: ['order.paid'],
  maxEventsPerSecond: 5000,
  previewToken: plan.previewToken,
});
const done = await replay.wait(backfill.id);
console.log('backfill', { state: done.state, done: done.done, applied: done.applied, skipped: done.skipped });

// Again: the order guard makes every event a no-op.
const again = await replay.wait((await replay.start({ kind: 'backfill', consumer: 'paid_totals' })).id);
console.log('backfill again', { applied: again.applied, alreadyApplied: again.report.alreadyApplied });

// 2. What would the reactor do? Nothing is performed.
const dry = await replay.wait((await replay.start({ kind: 'dry-run', consumer: 'receipts' })).id);
const would = dry.report.effects['send-receipt']!;
console.log('dry run', {
  count: would.count,
  alreadyPerformed: would.alreadyPerformed,
  key: would.samples[0]?.idempotencyKey,
  mails,
});

// 3. Live, with the operator's explicit yes; a second live replay performs nothing again.
for (let run = 1; run <= 2; run++) {
  const live = await replay.wait(
    (await replay.start({ kind: 'reactor-replay', consumer: 'receipts', allowEffects: true })).id,
  );
  const s = live.report.effects['send-receipt']!;
  console.log(`live replay ${run}`, { ran: s.ran, skipped: s.alreadyPerformed, mails });
}

await replay.stop();
await store.close();
