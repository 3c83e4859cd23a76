/**
 * Consumer runtime benchmarks (issue 4).
 *   consumers-log  throughput of one projection doing one UPSERT per event, 16 partitions, from the log
 *   latency-log    commit → handler latency at a steady 1,000 events/s, from the log
 *   consumers-nats, latency-nats  the same through a relay and NATS JetStream (the bus path)
 * Options: --events N (throughput run, default 100000), --streams N (default 1000), --seconds N (latency, default 10)
 */
import { performance } from 'node:perf_hooks';
import {
  createEventStore,
  createWorker,
  defineProjection,
  partitionOf,
  type EventStore,
} from '../src/index.js';
import { quoteIdent } from '../src/store/names.js';
import { createRelay, type Bus } from '../src/index.js';
import { natsBus } from '../src/bus/nats/index.js';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const NATS_URL = process.env.EVENTLANE_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
type Source = 'log' | 'nats';

/** Where a worker reads from: the log itself, or a relay publishing to NATS JetStream and the worker subscribing. */
function openSource(store: EventStore, source: Source) {
  if (source === 'log') return { from: 'log' as const, start: async () => {}, stop: async () => {} };
  const id = `ELBENCH_${Date.now().toString(36)}`;
  const bus = (): Bus =>
    natsBus({ servers: NATS_URL, stream: id, subjectPrefix: id.toLowerCase(), storage: 'memory' });
  const relay = createRelay(store, { bus: bus(), name: id, registry: null });
  return {
    from: bus(),
    start: () => relay.start(),
    stop: async () => {
      await relay.stop();
      const nc = await natsConnect({ servers: NATS_URL });
      await (await jetstreamManager(nc)).streams.delete(id).catch(() => undefined);
      await nc.close();
    },
  };
}
import { percentile, round, rssMb, type Reporter } from './report.js';

const URL = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function freshStore(): Promise<{ store: EventStore; q: string }> {
  const schema = `bench_consumers_${Date.now().toString(36)}`;
  const store = await createEventStore({ url: URL, schema, poolSize: 20 });
  const q = quoteIdent(schema);
  await store.executor.query(
    `create table ${q}.totals (stream text primary key, total bigint not null, n int not null)`,
  );
  return { store, q };
}

async function drop(store: EventStore): Promise<void> {
  const schema = store.schema;
  await store.executor.query(`drop schema ${quoteIdent(schema)} cascade`);
  await store.close();
}

function upsertProjection(q: string, onEvent?: () => void) {
  return defineProjection({
    name: 'totals',
    handlers: {
      'item.added': async (e, { query }) => {
        onEvent?.();
        await query(
          `insert into ${q}.totals (stream, total, n) values ($1, $2, 1)
           on conflict (stream) do update set total = totals.total + excluded.total, n = totals.n + 1`,
          [e.stream, (e.data as { amount: number }).amount],
        );
      },
    },
  });
}

async function throughput(args: string[], reporter: Reporter, source: Source): Promise<void> {
  const events = arg(args, 'events', 100_000);
  const streams = arg(args, 'streams', 1000);
  const { store, q } = await freshStore();
  // Appended up front, 100 per call, so the run measures the consumer alone.
  const perStream = Math.ceil(events / streams);
  for (let s = 0; s < streams; s += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, streams - s) }, async (_, k) => {
        for (let left = perStream; left > 0; left -= 100) {
          await store.append(
            `bench-${s + k}`,
            Array.from({ length: Math.min(100, left) }, (_x, i) => ({
              type: 'item.added',
              data: { amount: i },
            })),
          );
        }
      }),
    );
  }
  const total = perStream * streams;
  // The ceiling: the same UPSERTs from 16 concurrent connections in transactions of 500, with no runtime at all.
  const all: { stream: string; amount: number }[] = [];
  for await (const e of store.iterateLog({ pageSize: 5000 }))
    all.push({ stream: e.stream, amount: (e.data as { amount: number }).amount });
  const lanes = Array.from({ length: 16 }, () => [] as typeof all);
  for (const e of all) lanes[partitionOf(e.stream, 16)]!.push(e);
  const rawStarted = performance.now();
  await Promise.all(
    lanes.map(async (lane) => {
      for (let i = 0; i < lane.length; i += 500) {
        await store.transaction(async (tx) => {
          for (const e of lane.slice(i, i + 500)) {
            await tx.query(
              `insert into ${q}.totals (stream, total, n) values ($1, $2, 1)
               on conflict (stream) do update set total = totals.total + excluded.total, n = totals.n + 1`,
              [e.stream, e.amount],
            );
          }
        });
      }
    }),
  );
  const rawPerSec = total / ((performance.now() - rawStarted) / 1000);
  await store.executor.query(`truncate ${q}.totals`);
  const src = openSource(store, source);
  const worker = createWorker(store, {
    from: src.from,
    consumers: [upsertProjection(q)],
    partitions: 16,
    batchSize: arg(args, 'batch', 500),
    readBatchSize: arg(args, 'read', 2000),
  });
  const started = performance.now();
  await src.start();
  await worker.start();
  for (;;) {
    if (worker.stats()[0]!.applied >= total) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (performance.now() - started) / 1000;
  // Bus path: events the worker read from the store by catch-ups instead of taking them from NATS (0 when the bus
  // brought the whole backlog).
  const readFromStore = worker.stats()[0]!.readFromStore;
  await worker.stop();
  await src.stop();
  const [check] = await store.executor.query<{ n: string }>(`select sum(n) as n from ${q}.totals`);
  if (Number(check!.n) !== total) throw new Error(`projection holds ${check!.n} events, expected ${total}`);
  if (source === 'log') {
    reporter.add({
      scenario: 'upsert-raw',
      events: total,
      partitions: 16,
      eventsPerSec: Math.round(rawPerSec),
    });
  }
  reporter.add({
    scenario: `consumers-${source}`,
    events: total,
    partitions: 16,
    eventsPerSec: Math.round(total / seconds),
    vsRaw: round(total / seconds / rawPerSec),
    target: 20_000,
    ...(source === 'nats' ? { readFromStore } : {}),
    rssMb: rssMb(),
  });
  await drop(store);
}

async function latency(args: string[], reporter: Reporter, source: Source): Promise<void> {
  const seconds = arg(args, 'seconds', 10);
  const rate = 1000;
  const { store, q } = await freshStore();
  const committed = new Map<string, number>();
  const seen = new Map<string, number>();
  const projection = defineProjection({
    name: 'totals',
    handlers: {
      'item.added': async (e, { query }) => {
        if (!seen.has(e.id)) seen.set(e.id, performance.now());
        await query(
          `insert into ${q}.totals (stream, total, n) values ($1, $2, 1)
           on conflict (stream) do update set total = totals.total + excluded.total, n = totals.n + 1`,
          [e.stream, (e.data as { amount: number }).amount],
        );
      },
    },
  });
  const src = openSource(store, source);
  const worker = createWorker(store, {
    from: src.from,
    consumers: [projection],
    partitions: 16,
    pollIntervalMs: arg(args, 'poll', 50),
  });
  await src.start();
  await worker.start();
  // A steady 1,000 events/s: 4 writers, each appending one event every 4 ms on a schedule (not back to back).
  const total = rate * seconds;
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const id = crypto.randomUUID();
        await store.append(`lat-${i % 500}`, [{ id, type: 'item.added', data: { amount: 1 } }]);
        committed.set(id, performance.now());
      }
    }),
  );
  const deadline = performance.now() + 30_000;
  while (seen.size < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await worker.stop();
  await src.stop();
  // Commit time is when append() resolved, a little after the real commit; a handler can run before the writer
  // hears back, so latencies are clamped at 0 (this errs towards lower numbers by at most one round trip).
  const latencies = [...committed].map(([id, t]) => Math.max(0, (seen.get(id) ?? Infinity) - t));
  const achieved = total / ((performance.now() - start) / 1000);
  reporter.add({
    scenario: `latency-${source}`,
    events: total,
    ratePerSec: rate,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
    missed: latencies.filter((l) => !Number.isFinite(l)).length,
    achievedRate: Math.round(Math.min(achieved, rate)),
    rssMb: rssMb(),
  });
  await drop(store);
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const only = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  for (const source of ['log', 'nats'] as const) {
    if (!only || only === `consumers-${source}`) await throughput(args, reporter, source);
    if (!only || only === `latency-${source}`) await latency(args, reporter, source);
  }
}
