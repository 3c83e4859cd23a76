/**
 * How cost grows with the log (issue 14): the same measurements on top of logs that already hold 1M, 10M, … events.
 *
 * npm run bench -- growth [--json] [--sizes 1m,10m,30m] [--window 1m] [--appends 20000] [--read 500000]
 *
 * For each size (ascending), in a schema of its own in the database `<EVENTLANE_BENCH_DB>_growth` (created when
 * missing, never dropped; the size's schema is dropped after it is measured):
 *   prefill              the log built in set-based SQL (bench/_growth-prefill.ts), then VACUUM (ANALYZE), CHECKPOINT
 *   growth-consumer      a log-mode worker (16 partitions, batches of 500, reads of 2000) applying one UPSERT per
 *                        event to a read model, catching up over the log's last `--window` events (default 1M; the
 *                        history before them already applied: order guard rows, read model rows and checkpoints)
 *   growth-append-1x8    `--appends` single-event appends (default 20,000), 8 writers, `no_stream` (as bench/append.ts)
 *   growth-append-100x8  `--appends` / 10 appends of 100 events, 8 writers, `no_stream`
 *   growth-read-log      `--read` events (default 500,000) appended 500 per call, then read back with readLog in
 *                        pages of 5000 from the checkpoint before them (freshly written rows, as bench/append.ts);
 *                        also `rereadEventsPerSec` (a second pass over the same rows, hint bits set) and
 *                        `autovacuums` (autovacuum runs that finished on the events table during the scenario)
 * Each result has `events` (the log size), `eventsPerSec`, `vs1m` (the rate ÷ the same scenario's rate at 1M in
 * this run; null when 1M is not among the sizes), `measured` (events the scenario handled), `rssMb` and `heapMb`
 * (this process's resident set and V8 heap in use), `tableMb` (the events table with its indexes and TOAST),
 * `indexMb` (its indexes) and `load1` (the machine's 1-minute load average).
 * Sizes: whole numbers with an optional k or m suffix, at least 100k and at least the window. A 10M size needs
 * ≈ 5 GB of disk while measured, 30M ≈ 14 GB (plus WAL); only one size's schema exists at a time.
 * EVENTLANE_GROWTH_KEEP=1 keeps each size's schema (growth_1m, growth_10m, …) for EXPLAIN afterwards.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  createEventStore,
  createWorker,
  defineProjection,
  LOG_START,
  type EventStore,
} from '../src/index.js';
import { quoteIdent } from '../src/store/names.js';
import { BENCH_ADMIN_URL, BENCH_DB, runConcurrently, sampleData } from './_support.js';
import { CONSUMER, prefill } from './_growth-prefill.js';
import { round, rssMb, type Reporter, type ScenarioResult } from './report.js';

const PARTITIONS = 16;

/** A count such as 500000, 500k or 10m. */
function parseCount(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  const n = m
    ? Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2]!.toLowerCase() as '' | 'k' | 'm'])
    : NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`${option} takes whole numbers like 500000, 500k or 10m; got ${JSON.stringify(text)}.`);
  return n;
}

const OPTIONS = ['sizes', 'window', 'appends', 'read'];

/** Refuses what this suite does not know, rather than running a long benchmark with an option ignored. */
function checkArgs(args: string[]): void {
  for (let i = 0; i < args.length; i++) {
    const name = /^--([a-z]+)(=.*)?$/.exec(args[i]!);
    if (!name || !OPTIONS.includes(name[1]!))
      throw new Error(
        `growth: unknown argument ${JSON.stringify(args[i])}; options: --${OPTIONS.join(', --')}.`,
      );
    if (name[2] === undefined) i++;
  }
}

function option(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const arg = args[i]!;
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value.`);
  return value;
}

function label(n: number): string {
  return n % 1e6 === 0 ? `${n / 1e6}m` : n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}

/** The benchmark's own database on the bench server, created when missing (other suites drop theirs). */
async function growthDatabase(): Promise<string> {
  const name = `${BENCH_DB}_growth`;
  const admin = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(BENCH_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function sizes(db: pg.Client, schema: string): Promise<{ tableMb: number; indexMb: number }> {
  const { rows } = await db.query<{ t: string; i: string }>(
    `select pg_total_relation_size($1::regclass)::text as t, pg_indexes_size($1::regclass)::text as i`,
    [`${quoteIdent(schema)}.events`],
  );
  return { tableMb: round(Number(rows[0]!.t) / 2 ** 20, 0), indexMb: round(Number(rows[0]!.i) / 2 ** 20, 0) };
}

function upsertProjection(q: string) {
  return defineProjection({
    name: CONSUMER,
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
}

async function consumer(store: EventStore, window: number): Promise<number> {
  const q = quoteIdent(store.schema);
  const worker = createWorker(store, {
    from: 'log',
    consumers: [upsertProjection(q)],
    partitions: PARTITIONS,
    batchSize: 500,
    readBatchSize: 2000,
  });
  const started = performance.now();
  await worker.start();
  while (worker.stats()[0]!.applied < window) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  const [check] = await store.executor.query<{ n: string }>(
    `select count(*)::text as n from ${q}.totals where stream like 'w-%' and n = 10`,
  );
  if (Number(check!.n) * 10 !== window)
    throw new Error(`the read model holds ${check!.n} complete window streams, expected ${window / 10}`);
  return window / seconds;
}

async function append(store: EventStore, tag: string, batch: number, appends: number): Promise<number> {
  const events = (base: number) =>
    Array.from({ length: batch }, (_, r) => ({ type: 'order.placed', data: sampleData(base + r) }));
  for (let w = 0; w < 8; w++)
    await store.append(`warm-${tag}-${w}`, events(0), { expectedVersion: 'no_stream' });
  const sec = await runConcurrently(8, appends, (i) =>
    store.append(`${tag}-${i}`, events(i), { expectedVersion: 'no_stream' }).then(() => undefined),
  );
  return (appends * batch) / sec;
}

/** How many times autovacuum has finished on the events table (PostgreSQL's statistics, updated within a second). */
async function autovacuums(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ n: string }>(
    `select autovacuum_count::text as n from pg_stat_user_tables where relid = $1::regclass`,
    [`${quoteIdent(store.schema)}.events`],
  );
  return Number(row?.n ?? 0);
}

/**
 * Reads `events` events after `start`. A page may come back empty while a transaction elsewhere on the server,
 * older than the appends, is still open (the log shows nothing past it until it ends): the pass waits for it.
 */
async function readPass(store: EventStore, start: string, events: number): Promise<number> {
  let read = 0;
  let after = start;
  const began = process.hrtime.bigint();
  const deadline = performance.now() + 120_000;
  while (read < events) {
    const page = await store.readLog({ after, limit: 5000 });
    if (page.events.length === 0) {
      if (performance.now() > deadline)
        throw new Error(`read-log read ${read} of ${events} freshly written events in 120 s`);
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    read += page.events.length;
    after = page.checkpoint;
  }
  if (read !== events) throw new Error(`read-log read ${read} events, ${events} were written`);
  return Number(process.hrtime.bigint() - began) / 1e9;
}

/**
 * Appends `events` and reads them back: the first pass pays for setting hint bits on the fresh rows (unless an
 * autovacuum got there first: `autovacuums` counts those that finished on the table meanwhile), the second
 * (`rereadEventsPerSec`) reads the same rows with their hint bits set.
 */
async function readLog(
  store: EventStore,
  events: number,
): Promise<{ rate: number; extra: Record<string, number> }> {
  const perAppend = 500;
  const start = (await lastCheckpoint(store)) ?? LOG_START;
  const vacuumsBefore = await autovacuums(store);
  await runConcurrently(8, events / perAppend, (i) =>
    store
      .append(
        `read-${i % 5000}`,
        Array.from({ length: perAppend }, (_, r) => ({
          type: 'order.placed',
          data: sampleData(i * perAppend + r),
        })),
      )
      .then(() => undefined),
  );
  const first = await readPass(store, start, events);
  const again = await readPass(store, start, events);
  const extra = {
    rereadEventsPerSec: Math.round(events / again),
    autovacuums: (await autovacuums(store)) - vacuumsBefore,
  };
  return { rate: events / first, extra };
}

/** The checkpoint of the log's last event (commit order), or null when the log is empty. */
async function lastCheckpoint(store: EventStore): Promise<string | null> {
  const [row] = await store.executor.query<{ c: string }>(
    `select tx_order::text || ':' || global_position::text as c from ${quoteIdent(store.schema)}.events
      order by tx_order desc, global_position desc limit 1`,
  );
  return row ? row.c : null;
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  checkArgs(args);
  const window = parseCount(option(args, 'window') ?? '1m', '--window');
  const appends = parseCount(option(args, 'appends') ?? '20000', '--appends');
  const reads = parseCount(option(args, 'read') ?? '500000', '--read');
  if (window % 10 !== 0 || reads % 500 !== 0 || appends < 80)
    throw new Error('--window must be a multiple of 10, --read of 500, and --appends at least 80.');
  const list = (option(args, 'sizes') ?? '1m,10m')
    .split(',')
    .map((s) => parseCount(s, '--sizes'))
    .sort((a, b) => a - b);
  for (const size of list) {
    if (size < 100_000 || size < window)
      throw new Error(`--sizes: ${size} is below 100k or below the window (${window}).`);
  }
  const url = await growthDatabase();
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const at1m = new Map<string, number>();
  const say = (line: string) => process.stderr.write(`  growth: ${line}\n`);
  try {
    for (const size of [...new Set(list)]) {
      const schema = `growth_${label(size)}`;
      await db.query(`drop schema if exists ${quoteIdent(schema)} cascade`);
      const store = await createEventStore({ url, schema, poolSize: 20, statementTimeoutMs: 0 });
      try {
        await store.executor.query(
          `create table ${quoteIdent(schema)}.totals (stream text primary key, total bigint not null, n int not null)`,
        );
        const filled = await prefill(db, schema, size, window, PARTITIONS, (l) => say(`${label(size)} ${l}`));
        say(`${label(size)} prefilled in ${Math.round(filled.seconds)} s`);
        const add = async (scenario: string, eventsPerSec: number, measured: number, extra: object = {}) => {
          if (size === 1_000_000) at1m.set(scenario, eventsPerSec);
          const base = at1m.get(scenario);
          const result: ScenarioResult = {
            scenario,
            events: size,
            eventsPerSec: Math.round(eventsPerSec),
            vs1m: base === undefined ? null : round(eventsPerSec / base),
            measured,
            ...extra,
            rssMb: rssMb(),
            heapMb: round(process.memoryUsage().heapUsed / 2 ** 20, 1),
            ...(await sizes(db, schema)),
            load1: round(loadavg()[0]!, 1),
          };
          reporter.add(result);
        };
        await add('growth-consumer', await consumer(store, window), window, { partitions: PARTITIONS });
        await add('growth-append-1x8', await append(store, `a1-${size}`, 1, appends), appends);
        const big = Math.max(8, Math.floor(appends / 10));
        await add('growth-append-100x8', await append(store, `a100-${size}`, 100, big), big * 100);
        const readLogResult = await readLog(store, reads);
        await add('growth-read-log', readLogResult.rate, reads, readLogResult.extra);
      } finally {
        await store.close();
        if (!process.env.EVENTLANE_GROWTH_KEEP)
          await db.query(`drop schema if exists ${quoteIdent(schema)} cascade`);
      }
    }
  } finally {
    await db.end();
  }
}
