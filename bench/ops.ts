/**
 * What serving operations costs the process that does the work.
 *   ops-overhead  append throughput (8 writers, 1 event per call, expected-version check) and consumer throughput (a
 *                 log-mode worker, 16 partitions, one UPSERT per event into a read model), each measured without
 *                 an ops server and with one in the same process (startOpsServer, as `eventlane serve` runs it: the
 *                 store's append metrics registered, /metrics scraped every second, and one dashboard client
 *                 following /api/live). `vsWithout` is with ÷ without; the target is ≥ 0.95.
 * The two conditions alternate for --rounds rounds (default 2), each on a fresh schema, and each reports its best
 * round: on a shared machine another process can only slow a round down, never speed it up.
 * Options: --appends N (append calls per round, default 20000: a shorter round is dominated by the ops
 * server's one-off start, its first overview and first scrape), --events N (consumer events per round, default
 * 30000), --rounds N.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { createEventStore, createWorker, defineProjection, type EventStore } from '../src/index.js';
import { startOpsServer, type OpsServer } from '../src/ops/index.js';
import { quoteIdent } from '../src/store/names.js';
import { percentile, round, rssMb, type Reporter } from './report.js';

const URL = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'bench-token-0123456789abcdef';
const WRITERS = 8;

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function freshStore(): Promise<{ store: EventStore; q: string }> {
  const schema = `bench_ops_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
  const store = await createEventStore({ url: URL, schema, poolSize: 20 });
  const q = quoteIdent(schema);
  await store.executor.query(
    `create table ${q}.totals (stream text primary key, total bigint not null, n int not null)`,
  );
  return { store, q };
}

async function drop(store: EventStore): Promise<void> {
  await store.executor.query(`drop schema ${quoteIdent(store.schema)} cascade`);
  await store.close();
}

/** The ops server of `eventlane serve` in this process, scraped every second and followed by one dashboard. */
interface Observed {
  stop(): Promise<{ scrapes: number; liveMessages: number; scrapeMs: number[] }>;
}

async function observe(store: EventStore, registry: Registry): Promise<Observed> {
  const server: OpsServer = await startOpsServer({ store, token: TOKEN, port: 0, registries: [registry] });
  let scrapes = 0;
  let liveMessages = 0;
  const scrapeMs: number[] = [];
  const scraper = setInterval(() => {
    const started = performance.now();
    void fetch(`${server.url}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        if (!text.includes('eventlane_')) throw new Error('a scrape without eventlane series');
        scrapeMs.push(performance.now() - started);
        scrapes++;
      });
  }, 1000);
  // The dashboard's connection: /api/live with its defaults (the overview every 2 s).
  const abort = new AbortController();
  const dashboard = fetch(`${server.url}/api/live`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: abort.signal,
  })
    .then(async (res) => {
      if (res.status !== 200 || res.body === null) throw new Error(`/api/live answered ${res.status}`);
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        liveMessages += (decoder.decode(chunk as Uint8Array).match(/^event: overview$/gm) ?? []).length;
      }
    })
    .catch((error: unknown) => {
      if (!abort.signal.aborted) throw error;
    });
  return {
    async stop() {
      clearInterval(scraper);
      abort.abort();
      await dashboard;
      await server.close();
      return { scrapes, liveMessages, scrapeMs };
    },
  };
}

interface Round {
  perSec: number;
  scrapes: number;
  live: number;
  /** How long each /metrics request took, in ms. */
  scrapeMs: number[];
}

/** Append calls per second: WRITERS loops, each on streams of its own with the expected version it tracks. */
async function appendRound(calls: number, withOps: boolean): Promise<Round> {
  const { store } = await freshStore();
  const observed = withOps ? await observe(store, new Registry()) : undefined;
  const versions = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = next++; i < calls; i = next++) {
        const stream = `w${w}-${i % 100}`;
        const version = versions.get(stream) ?? 0;
        await store.append(stream, [{ type: 'item.added', data: { amount: i } }], {
          expectedVersion: version === 0 ? 'no_stream' : version,
        });
        versions.set(stream, version + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const seen = (await observed?.stop()) ?? { scrapes: 0, liveMessages: 0, scrapeMs: [] };
  await drop(store);
  return { perSec: calls / seconds, scrapes: seen.scrapes, live: seen.liveMessages, scrapeMs: seen.scrapeMs };
}

/** Events per second a log-mode worker applies to an UPSERT read model, from a log appended up front. */
async function consumerRound(events: number, withOps: boolean): Promise<Round> {
  const { store, q } = await freshStore();
  const streams = 500;
  const perStream = Math.ceil(events / streams);
  for (let s = 0; s < streams; s += WRITERS) {
    await Promise.all(
      Array.from({ length: Math.min(WRITERS, streams - s) }, (_, k) =>
        store.append(
          `c-${s + k}`,
          Array.from({ length: perStream }, (_x, i) => ({ type: 'item.added', data: { amount: i } })),
        ),
      ),
    );
  }
  const total = perStream * streams;
  const registry = new Registry();
  const projection = defineProjection({
    name: 'totals',
    handlers: {
      'item.added': async (e, { query }) => {
        await query(
          `insert into ${q}.totals (stream, total, n) values ($1, $2, 1)
           on conflict (stream) do update set total = totals.total + excluded.total, n = totals.n + 1`,
          [e.stream, (e.data as { amount: number }).amount],
        );
      },
    },
  });
  const worker = createWorker(store, { from: 'log', consumers: [projection], partitions: 16, registry });
  const observed = withOps ? await observe(store, registry) : undefined;
  const started = performance.now();
  await worker.start();
  while (worker.stats()[0]!.applied < total) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  const seen = (await observed?.stop()) ?? { scrapes: 0, liveMessages: 0, scrapeMs: [] };
  const [check] = await store.executor.query<{ n: string }>(`select sum(n) as n from ${q}.totals`);
  if (Number(check!.n) !== total)
    throw new Error(`the read model holds ${check!.n} events, expected ${total}`);
  await drop(store);
  return { perSec: total / seconds, scrapes: seen.scrapes, live: seen.liveMessages, scrapeMs: seen.scrapeMs };
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const rounds = arg(args, 'rounds', 2);
  const calls = arg(args, 'appends', 20_000);
  const events = arg(args, 'events', 30_000);
  const load1 = round(loadavg()[0]!, 1);
  for (const path of ['append', 'consumer'] as const) {
    const best = { without: 0, with: 0, scrapes: 0, live: 0, scrapeMs: [] as number[] };
    const figures: { without: number[]; with: number[] } = { without: [], with: [] };
    for (let r = 0; r < rounds; r++) {
      // Alternating, so that a slow spell of the machine hits both conditions alike.
      for (const withOps of r % 2 === 0 ? [false, true] : [true, false]) {
        const result =
          path === 'append' ? await appendRound(calls, withOps) : await consumerRound(events, withOps);
        figures[withOps ? 'with' : 'without'].push(Math.round(result.perSec));
        if (withOps) {
          best.with = Math.max(best.with, result.perSec);
          best.scrapes += result.scrapes;
          best.live += result.live;
          best.scrapeMs.push(...result.scrapeMs);
        } else best.without = Math.max(best.without, result.perSec);
      }
    }
    reporter.add({
      scenario: 'ops-overhead',
      path,
      ...(path === 'append' ? { writers: WRITERS, calls } : { events, partitions: 16 }),
      rounds,
      eventsPerSecWithout: Math.round(best.without),
      eventsPerSecWith: Math.round(best.with),
      vsWithout: round(best.with / best.without),
      target: 0.95,
      roundsWithout: figures.without.join(' '),
      roundsWith: figures.with.join(' '),
      scrapes: best.scrapes,
      scrapeP50Ms: round(percentile(best.scrapeMs, 50), 1),
      scrapeMaxMs: round(Math.max(...best.scrapeMs), 1),
      liveOverviews: best.live,
      loadBefore: load1,
      loadAfter: round(loadavg()[0]!, 1),
      rssMb: rssMb(),
    });
  }
}
