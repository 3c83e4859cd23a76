/**
 * Projection rebuild benchmark (issue 6).
 *   rebuild   a simple read model (one row per stream: event count, last event type, a status) rebuilt from the
 *             whole log by createProjections with a batch handler, side by side with the ceiling: a hand-written
 *             paged rebuild (pages of 5,000 events in commit order, one multi-row upsert per page).
 * Options: --events=N (default 1,000,000), --streams=N (default 10,000), --page=N (default 5,000), --no-emmett.
 * Emmett (bench/rebuild-emmett.ts) rebuilds the same projection over the same events in its own store.
 * Every implementation's table is checked: the sum of its per-stream counts must equal the events in the log.
 */
import { performance } from 'node:perf_hooks';
import {
  createEventStore,
  createProjections,
  defineProjection,
  type EventStore,
  type StoredEvent,
} from '../src/index.js';
import { quoteIdent } from '../src/store/names.js';
import { round, rssMb, type Reporter } from './report.js';
import { emmettRebuild } from './_rebuild-emmett.js';

const URL = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TYPES = ['order.created', 'order.paid', 'order.shipped'];

function arg(args: string[], name: string, fallback: number): number {
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (eq !== undefined) return Number(eq.slice(name.length + 3));
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export const DDL = (table: string) => `create table ${table} (
  stream text primary key, n integer not null, last_type text not null, status text not null)`;

/** The page's fold per stream, then one multi-row upsert adding to the stored counts. Shared by both sides. */
export async function upsertPage(
  query: (text: string, params?: readonly unknown[]) => Promise<unknown[]>,
  table: string,
  events: readonly StoredEvent[],
): Promise<void> {
  const byStream = new Map<string, { n: number; last: string }>();
  for (const e of events) {
    const s = byStream.get(e.stream);
    if (s === undefined) byStream.set(e.stream, { n: 1, last: e.type });
    else {
      s.n++;
      s.last = e.type;
    }
  }
  const streams = [...byStream.keys()];
  await query(
    `insert into ${table} as t (stream, n, last_type, status)
     select x.stream, x.n, x.last_type, case when x.last_type = 'order.shipped' then 'shipped' else 'open' end
       from unnest($1::text[], $2::int[], $3::text[]) as x(stream, n, last_type)
     on conflict (stream) do update set n = t.n + excluded.n, last_type = excluded.last_type, status = excluded.status`,
    [streams, streams.map((s) => byStream.get(s)!.n), streams.map((s) => byStream.get(s)!.last)],
  );
}

export async function writeLog(store: EventStore, total: number, streams: number): Promise<number> {
  const perCall = 100;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let call = next++; call * perCall < total; call = next++) {
        const count = Math.min(perCall, total - call * perCall);
        await store.append(
          `order-${call % streams}`,
          Array.from({ length: count }, (_, k) => ({
            type: TYPES[(call + k) % 3]!,
            data: { k, amount: 10 },
          })),
        );
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

export async function sumCounts(store: EventStore, table: string): Promise<number> {
  const [row] = await store.executor.query<{ s: string | null }>(`select sum(n)::text as s from ${table}`);
  return Number(row?.s ?? 0);
}

/** Samples the process's resident memory while `fn` runs; returns the peak in MB. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ result: T; rss: number }> {
  let peak = rssMb();
  const timer = setInterval(() => (peak = Math.max(peak, rssMb())), 100);
  try {
    const result = await fn();
    return { result, rss: Math.max(peak, rssMb()) };
  } finally {
    clearInterval(timer);
  }
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const total = arg(args, 'events', 1_000_000);
  const streams = arg(args, 'streams', 10_000);
  const page = arg(args, 'page', 5_000);
  const schema = `bench_rebuild_${Date.now().toString(36)}`;
  const store = await createEventStore({ url: URL, schema, poolSize: 12 });
  const q = quoteIdent(schema);
  try {
    const writeSec = await writeLog(store, total, streams);
    process.stderr.write(`  wrote ${total} events in ${writeSec.toFixed(1)} s (8 writers)\n`);
    const [{ n } = { n: '0' }] = await store.executor.query<{ n: string }>(
      `select count(*)::text as n from ${q}.events`,
    );
    const inLog = Number(n);
    await store.executor.query(`vacuum analyze ${q}.events`).catch(() => undefined);

    // The ceiling: read a page in commit order, one multi-row upsert, next page.
    const ceilingTable = `${q}.ceiling_summary`;
    await store.executor.query(DDL(ceilingTable));
    const ceiling = await peakRss(async () => {
      const started = performance.now();
      let after: string | undefined;
      for (;;) {
        const r = await store.readLog({ ...(after === undefined ? {} : { after }), limit: 5000 });
        if (r.events.length === 0) break;
        await upsertPage((t, p) => store.executor.query(t, p), ceilingTable, r.events);
        after = r.checkpoint;
      }
      return (performance.now() - started) / 1000;
    });
    const ceilingApplied = await sumCounts(store, ceilingTable);
    const ceilingRate = inLog / ceiling.result;

    const projections = createProjections(store, {
      projections: [
        defineProjection({
          name: 'order_summary',
          version: 1,
          tables: { order_summary: DDL(':TABLE:') },
          batch: (events, { query, tables }) => upsertPage(query, tables.order_summary!, events),
        }),
      ],
      schema,
      pageSize: page,
    });
    const ours = await peakRss(async () => {
      const started = performance.now();
      await projections.start();
      await projections.waitLive('order_summary', 3_600_000);
      return (performance.now() - started) / 1000;
    });
    await projections.stop();
    const applied = await sumCounts(store, `${q}.order_summary`);
    const rate = inLog / ours.result;

    const emmett = args.includes('--no-emmett')
      ? { error: 'skipped (--no-emmett)' }
      : await emmettRebuild(total, streams, TYPES);
    const emmettRate = 'seconds' in emmett ? emmett.inLog / emmett.seconds : null;
    reporter.add({
      scenario: 'rebuild',
      events: inLog,
      eventsPerSec: Math.round(rate),
      ceilingEventsPerSec: Math.round(ceilingRate),
      vsCeiling: round(rate / ceilingRate),
      vsEmmett: emmettRate === null ? null : round(rate / emmettRate),
      emmettEventsPerSec: emmettRate === null ? null : Math.round(emmettRate),
      emmettApplied: 'applied' in emmett ? emmett.applied : null,
      emmettComplete: 'applied' in emmett ? emmett.applied === emmett.inLog : null,
      emmettError: 'error' in emmett ? emmett.error : undefined,
      applied,
      ceilingApplied,
      complete: applied === inLog && ceilingApplied === inLog,
      rssMb: ours.rss,
      ceilingRssMb: ceiling.rss,
      pageSize: page,
    });
  } finally {
    await store.executor.query(`drop schema ${q} cascade`).catch(() => undefined);
    await store.close();
  }
}
