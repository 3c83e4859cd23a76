/**
 * Replay benchmark (issue 10). One log, three scenarios:
 *   replay-10m        every event of the log through a no-op handler-only projection (a backfill with the order
 *                     guard): eventsPerSec and the peak rssMb of this process.
 *   replay-throttled  the first `--throttled` events under a 20,000 events/s limit: achievedVsLimit.
 *   replay-filtered   only a type that is 0.1 % of the log, against the whole log unfiltered: vsUnfiltered.
 * Options: --events=N (default 10,000,000), --streams=N (default 10,000), --throttled=N (default 200,000),
 *          --page=N (default 5,000), --only=replay-10m,… (scenarios to run; default all). The log is written with one INSERT … SELECT per 250,000 rows (the log's own
 * columns; what is measured is the replay, not the append).
 */
import {
  createEventStore,
  createReplay,
  defineProjection,
  type EventStore,
  type Replay,
} from '../src/index.js';
import { quoteIdent } from '../src/store/names.js';
import { round, rssMb, type Reporter } from './report.js';

const URL = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHUNK = 250_000;

function arg(args: string[], name: string, fallback: number): number {
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  return eq === undefined ? fallback : Number(eq.slice(name.length + 3));
}

async function writeLog(store: EventStore, total: number, streams: number): Promise<void> {
  const q = quoteIdent(store.schema);
  for (let from = 0; from < total; from += CHUNK) {
    const to = Math.min(total, from + CHUNK) - 1;
    await store.executor.query(
      `insert into ${q}.events (tx_order, id, stream, stream_position, type, version, data, metadata, occurred_at)
       select pg_current_xact_id(), gen_random_uuid(), 'order-' || (g % $3), (g / $3) + 1,
              case when g % 1000 = 999 then 'order.refunded' else 'order.paid' end, 1,
              jsonb_build_object('amount', g % 100), '{}', now()
         from generate_series($1::bigint, $2::bigint) g`,
      [from, to, streams],
    );
    process.stderr.write(`  wrote ${to + 1} events\n`);
  }
  await store.executor.query(`vacuum analyze ${q}.events`);
}

/** Runs one job to its end, sampling RSS; returns seconds, events done and the peak RSS in MB. */
async function timed(
  replay: Replay,
  options: Parameters<Replay['start']>[0],
): Promise<{ seconds: number; done: number; rss: number }> {
  let peak = rssMb();
  const timer = setInterval(() => (peak = Math.max(peak, rssMb())), 100);
  try {
    const plan = await replay.plan(options);
    const job = await replay.start({ ...options, previewToken: plan.previewToken });
    const done = await replay.wait(job.id, { timeoutMs: 24 * 3_600_000 });
    if (done.state !== 'completed') throw new Error(`job ${done.id} ended ${done.state}: ${done.error}`);
    // The job's own run, from its claim to its completion (database clock): the plan and the count before it are
    // not part of the replay's rate.
    const seconds = (done.finishedAt!.getTime() - done.startedAt!.getTime()) / 1000;
    return { seconds, done: done.done, rss: Math.max(peak, rssMb()) };
  } finally {
    clearInterval(timer);
  }
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const total = arg(args, 'events', 10_000_000);
  const streams = arg(args, 'streams', 10_000);
  const throttled = Math.min(total, arg(args, 'throttled', 200_000));
  const pageSize = arg(args, 'page', 5_000);
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const want = (scenario: string) => only === undefined || only.includes(scenario);
  const schema = `bench_replay_${Date.now().toString(36)}`;
  const store = await createEventStore({ url: URL, schema, poolSize: 6 });
  try {
    await writeLog(store, total, streams);
    // Each scenario feeds a consumer of its own, so none finds the events applied by another.
    const noop = (name: string) =>
      defineProjection({ name, handlers: { 'order.paid': () => Promise.resolve() } });
    const names = ['full', 'throttled', 'unfiltered', 'filtered'];
    const replay = createReplay(store, { consumers: names.map(noop), pageSize });

    if (want('replay-10m')) {
      const full = await timed(replay, { kind: 'backfill', consumer: 'full' });
      reporter.add({
        scenario: 'replay-10m',
        events: full.done,
        eventsPerSec: round(full.done / full.seconds, 0),
        rssMb: round(full.rss, 0),
      });
    }
    if (want('replay-throttled')) await throttledScenario(store, replay, throttled, reporter);
    if (want('replay-filtered')) await filteredScenario(replay, total, reporter);
    await replay.stop();
  } finally {
    await store.executor.query(`drop schema ${quoteIdent(schema)} cascade`).catch(() => undefined);
    await store.close();
  }
}

async function throttledScenario(
  store: EventStore,
  replay: Replay,
  throttled: number,
  reporter: Reporter,
): Promise<void> {
  const [cut] = await store.executor.query<{ cp: string }>(
    `select tx_order::text || ':' || global_position as cp from ${quoteIdent(store.schema)}.events
      order by tx_order, global_position offset $1 limit 1`,
    [throttled - 1],
  );
  const limit = 20_000;
  const slow = await timed(replay, {
    kind: 'backfill',
    consumer: 'throttled',
    to: cut!.cp,
    maxEventsPerSecond: limit,
  });
  reporter.add({
    scenario: 'replay-throttled',
    events: slow.done,
    limit,
    eventsPerSec: round(slow.done / slow.seconds, 0),
    achievedVsLimit: round(slow.done / slow.seconds / limit, 3),
  });
}

async function filteredScenario(replay: Replay, total: number, reporter: Reporter): Promise<void> {
  const unfiltered = await timed(replay, { kind: 'backfill', consumer: 'unfiltered' });
  const filtered = await timed(replay, {
    kind: 'backfill',
    consumer: 'filtered',
    types: ['order.refunded'],
  });
  reporter.add({
    scenario: 'replay-filtered',
    events: total,
    matching: filtered.done,
    unfilteredSec: round(unfiltered.seconds, 2),
    filteredSec: round(filtered.seconds, 3),
    vsUnfiltered: round(unfiltered.seconds / filtered.seconds, 1),
  });
}
