/**
 * Append and log-read throughput of eventlane's store, side by side in one run with the ceiling (a raw
 * multi-row INSERT of the same rows into a table of the same shape) and Emmett's PostgreSQL event store.
 *
 * npm run bench -- append [--json] [--quick] [--only=append-1x8,handle-1x8,handle-1x8-cached,read-log,append-personal]
 */
import { randomUUID } from 'node:crypto';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { z } from 'zod';
import { createEventStore, createStateCache, defineEvent, LOG_START, type EventStore } from '../src/index.js';
import { round, rssMb, type Reporter } from './report.js';
import { freshBenchDatabase, runConcurrently, sampleData } from './_support.js';

const RAW_TABLE = `
  create table raw_events (
    global_position bigint generated always as identity primary key,
    tx_order xid8 not null default pg_current_xact_id(),
    id uuid not null unique,
    stream text not null,
    stream_position bigint not null,
    type text not null,
    version integer not null,
    data jsonb not null,
    metadata jsonb not null,
    occurred_at timestamptz not null,
    recorded_at timestamptz not null default now(),
    unique (stream, stream_position)
  );
  create index on raw_events (tx_order, global_position);`;

function rawInsert(batch: number): string {
  const rows: string[] = [];
  for (let r = 0; r < batch; r++) {
    const p = r * 7;
    rows.push(
      `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, 1, $${p + 5}::jsonb, $${p + 6}::jsonb, $${p + 7})`,
    );
  }
  return `insert into raw_events (id, stream, stream_position, type, version, data, metadata, occurred_at) values ${rows.join(', ')}`;
}

function rawParams(stream: string, batch: number, base: number): unknown[] {
  const params: unknown[] = [];
  const now = new Date().toISOString();
  for (let r = 0; r < batch; r++) {
    params.push(randomUUID(), stream, r + 1, 'order.placed', JSON.stringify(sampleData(base + r)), '{}', now);
  }
  return params;
}

interface Shape {
  scenario: string;
  batch: number;
  writers: number;
  appends: number;
}

async function measureAppend(
  shape: Shape,
  eventlane: EventStore,
  raw: pg.Pool,
  emmett: ReturnType<typeof getPostgreSQLEventStore>,
  reporter: Reporter,
): Promise<void> {
  const { scenario, batch, writers, appends } = shape;
  const events = (base: number) =>
    Array.from({ length: batch }, (_, r) => ({ type: 'order.placed', data: sampleData(base + r) }));
  const sql = rawInsert(batch);
  const tag = `${scenario}-${Date.now()}`;
  // Warm each path (connections, plans) before measuring.
  for (let i = 0; i < writers; i++) {
    await raw.query(sql, rawParams(`w-${tag}-${i}`, batch, 0));
    await eventlane.append(`w-${tag}-${i}`, events(0), { expectedVersion: 'no_stream' });
    await emmett.appendToStream(`w-${tag}-${i}`, events(0), {
      expectedStreamVersion: 'STREAM_DOES_NOT_EXIST',
    });
  }
  const rawSec = await runConcurrently(writers, appends, (i) =>
    raw.query(sql, rawParams(`r-${tag}-${i}`, batch, i)).then(() => undefined),
  );
  const elSec = await runConcurrently(writers, appends, (i) =>
    eventlane.append(`e-${tag}-${i}`, events(i), { expectedVersion: 'no_stream' }).then(() => undefined),
  );
  const emSec = await runConcurrently(writers, appends, (i) =>
    emmett
      .appendToStream(`m-${tag}-${i}`, events(i), { expectedStreamVersion: 'STREAM_DOES_NOT_EXIST' })
      .then(() => undefined),
  );
  const total = appends * batch;
  const el = total / elSec;
  reporter.add({
    scenario,
    eventsPerSec: Math.round(el),
    rawEventsPerSec: Math.round(total / rawSec),
    emmettEventsPerSec: Math.round(total / emSec),
    vsRaw: round(el / (total / rawSec)),
    vsEmmett: round(el / (total / emSec)),
    events: total,
    rssMb: rssMb(),
  });
}

/** Commands per stream in handle-1x8: each command folds the stream's earlier events (up to this many minus one). */
const COMMANDS_PER_STREAM = 10;

/**
 * Command handling (read, fold, decide, append with the version read) with 8 writers, each on streams of its own,
 * against plain single-event appends to the same stream layout (each writer knows its streams' versions) in the same
 * run: `vsAppend` is what reading and folding costs on top of the append. `handle-1x8-cached` runs the same
 * commands with a state cache (createStateCache): a stream's first command reads it, the other nine decide from the
 * state the previous one left and append with one statement.
 */
async function measureHandle(eventlane: EventStore, commands: number, reporter: Reporter): Promise<void> {
  const writers = 8;
  const tag = `handle-${Date.now()}`;
  // A writer's n-th command goes to its stream n / COMMANDS_PER_STREAM: streams of ten events, no conflicts.
  const counts = {
    a: new Array<number>(writers).fill(0),
    h: new Array<number>(writers).fill(0),
    c: new Array<number>(writers).fill(0),
  };
  const streamOf = (kind: 'a' | 'h' | 'c', worker: number) =>
    `${kind}-${tag}-${worker}-${Math.floor(counts[kind][worker]!++ / COMMANDS_PER_STREAM)}`;
  const versions = new Map<string, number>();
  const options = {
    initialState: () => ({ count: 0, amount: 0 }),
    evolve: (s: { count: number; amount: number }, e: { data: unknown }) => ({
      count: s.count + 1,
      amount: s.amount + (e.data as { amount: number }).amount,
    }),
  };
  const cached = { ...options, cache: createStateCache<{ count: number; amount: number }>() };
  const handleOnce = (stream: string, i: number, withCache = false) =>
    eventlane.handle(
      stream,
      (s) => (s.count >= COMMANDS_PER_STREAM ? [] : [{ type: 'order.placed', data: sampleData(i) }]),
      withCache ? cached : options,
    );
  for (let w = 0; w < writers; w++) {
    await eventlane.append(`w-${tag}-${w}`, [{ type: 'order.placed', data: sampleData(w) }]);
    await handleOnce(`w-${tag}-${w}`, w);
  }
  const appendSec = await runConcurrently(writers, commands, async (i, w) => {
    const stream = streamOf('a', w);
    const expectedVersion = versions.get(stream) ?? 0;
    await eventlane.append(stream, [{ type: 'order.placed', data: sampleData(i) }], {
      expectedVersion: expectedVersion === 0 ? 'no_stream' : expectedVersion,
    });
    versions.set(stream, expectedVersion + 1);
  });
  let applied = 0;
  const handleSec = await runConcurrently(writers, commands, async (i, w) => {
    const { result } = await handleOnce(streamOf('h', w), i);
    if (result !== undefined) applied++;
  });
  if (applied !== commands) throw new Error(`handle-1x8 applied ${applied} of ${commands} commands`);
  // The same commands with a state cache: the first command of each stream reads it, the other nine do not.
  applied = 0;
  const cachedSec = await runConcurrently(writers, commands, async (i, w) => {
    const { result } = await handleOnce(streamOf('c', w), i, true);
    if (result !== undefined) applied++;
  });
  if (applied !== commands) throw new Error(`handle-1x8-cached applied ${applied} of ${commands} commands`);
  for (const [scenario, sec] of [
    ['handle-1x8', handleSec],
    ['handle-1x8-cached', cachedSec],
  ] as const) {
    reporter.add({
      scenario,
      commandsPerSec: Math.round(commands / sec),
      appendEventsPerSec: Math.round(commands / appendSec),
      vsAppend: round(appendSec / sec),
      events: commands,
      rssMb: rssMb(),
    });
  }
}

async function measureReadLog(url: string, count: number, reporter: Reporter): Promise<void> {
  const store = await createEventStore({ url, schema: 'read_bench', poolSize: 8 });
  const perAppend = 500;
  await runConcurrently(8, count / perAppend, (i) =>
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
  let read = 0;
  let after = LOG_START;
  const start = process.hrtime.bigint();
  for (;;) {
    const page = await store.readLog({ after, limit: 5000 });
    if (page.events.length === 0) break;
    read += page.events.length;
    after = page.checkpoint;
  }
  const sec = Number(process.hrtime.bigint() - start) / 1e9;
  let iterated = 0;
  const startIter = process.hrtime.bigint();
  for await (const _ of store.iterateLog({ pageSize: 5000 })) iterated++;
  const iterSec = Number(process.hrtime.bigint() - startIter) / 1e9;
  await store.close();
  // The ceiling: the same rows through pg, a plain SELECT paged by global position (what a hand-written reader
  // does, without commit-order safety), the rows decoded by pg as usual.
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  let rawRead = 0;
  let last = '0';
  const startRaw = process.hrtime.bigint();
  for (;;) {
    const { rows } = await raw.query<{ global_position: string }>(
      `select global_position, id, stream, stream_position, type, version, data, metadata, occurred_at, recorded_at
         from read_bench.events where global_position > $1 order by global_position limit 5000`,
      [last],
    );
    if (rows.length === 0) break;
    rawRead += rows.length;
    last = rows[rows.length - 1]!.global_position;
  }
  const rawSec = Number(process.hrtime.bigint() - startRaw) / 1e9;
  await raw.end();
  if (read !== count || iterated !== count || rawRead !== count)
    throw new Error(
      `read-log read ${read}, iterated ${iterated} and the raw select ${rawRead} of ${count} events`,
    );
  reporter.add({
    scenario: 'read-log',
    eventsPerSec: Math.round(read / sec),
    rawEventsPerSec: Math.round(rawRead / rawSec),
    vsRaw: round(rawSec / sec),
    events: read,
    rssMb: rssMb(),
  });
  reporter.add({
    scenario: 'read-log-iterator',
    eventsPerSec: Math.round(iterated / iterSec),
    events: iterated,
    rssMb: rssMb(),
  });
}

const customer = {
  customerId: z.string(),
  email: z.string(),
  name: z.string(),
  amount: z.number(),
};
const PlainSignup = defineEvent({
  type: 'bench.signup',
  owner: 'bench',
  versions: { 1: z.object(customer) },
});
const PersonalSignup = defineEvent({
  type: 'bench.signup',
  owner: 'bench',
  versions: { 1: z.object(customer) },
  personal: { subject: 'customerId', fields: ['email', 'name'] },
});

/**
 * append-personal: 1 event per append, 8 writers, a contract with two personal fields vs the same contract without
 * (`vsPlain`), same run, same database, rounds alternated. 1,000 subjects: their keys are created in the first round
 * and then come from the store's memory (one statement per append, as without personal fields). `newSubjects`
 * measures the other end: every append brings a subject never seen (key created in the append's transaction).
 */
async function measurePersonal(url: string, appends: number, reporter: Reporter): Promise<void> {
  const plain = await createEventStore({ url, schema: 'personal_plain', poolSize: 8, events: [PlainSignup] });
  const personal = await createEventStore({
    url,
    schema: 'personal_sealed',
    poolSize: 8,
    events: [PersonalSignup],
  });
  const data = (i: number, subjects: number) => ({
    customerId: `c-${subjects === 0 ? i : i % subjects}`,
    email: `customer-${i}@example.com`,
    name: `Customer Number ${i}`,
    amount: i % 1000,
  });
  const round_ = async (store: EventStore, tag: string, subjects: number) =>
    runConcurrently(8, appends, (i) =>
      store
        .append(`${tag}-${i}`, [{ type: 'bench.signup', data: data(i, subjects) }], {
          expectedVersion: 'no_stream',
        })
        .then(() => undefined),
    );
  try {
    await round_(plain, 'warm', 1000);
    await round_(personal, 'warm', 1000);
    const plainSec: number[] = [];
    const personalSec: number[] = [];
    for (let r = 0; r < 3; r++) {
      plainSec.push(await round_(plain, `p${r}`, 1000));
      personalSec.push(await round_(personal, `s${r}`, 1000));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
    const newSec = await round_(personal, 'n', 0);
    const plainRate = appends / median(plainSec);
    reporter.add({
      scenario: 'append-personal',
      eventsPerSec: Math.round(appends / median(personalSec)),
      plainEventsPerSec: Math.round(plainRate),
      vsPlain: round(appends / median(personalSec) / plainRate),
      newSubjectsEventsPerSec: Math.round(appends / newSec),
      newSubjectsVsPlain: round(appends / newSec / plainRate),
      events: appends,
      rssMb: rssMb(),
    });
  } finally {
    await plain.close();
    await personal.close();
  }
}

async function measurePglite(appends: number, reporter: Reporter): Promise<void> {
  const batch = 100;
  const store = await createEventStore();
  const db = await PGlite.create();
  await db.exec(RAW_TABLE);
  const sql = rawInsert(batch);
  const events = (base: number) =>
    Array.from({ length: batch }, (_, r) => ({ type: 'order.placed', data: sampleData(base + r) }));
  await db.query(sql, rawParams('warm', batch, 0));
  await store.append('warm', events(0));
  const rawSec = await runConcurrently(1, appends, (i) =>
    db.query(sql, rawParams(`r-${i}`, batch, i)).then(() => undefined),
  );
  const elSec = await runConcurrently(1, appends, (i) =>
    store.append(`e-${i}`, events(i), { expectedVersion: 'no_stream' }).then(() => undefined),
  );
  await store.close();
  await db.close();
  const total = appends * batch;
  reporter.add({
    scenario: 'pglite-append-100',
    eventsPerSec: Math.round(total / elSec),
    rawEventsPerSec: Math.round(total / rawSec),
    vsRaw: round(rawSec / elSec),
    events: total,
    rssMb: rssMb(),
  });
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const quick = args.includes('--quick');
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',');
  const want = (name: string) => !only || only.includes(name);
  const url = await freshBenchDatabase();
  const eventlane = await createEventStore({ url, poolSize: 8 });
  const raw = new pg.Pool({ connectionString: url, max: 8 });
  await raw.query(RAW_TABLE);
  const emmett = getPostgreSQLEventStore(url);
  await emmett.schema.migrate();
  const shapes: Shape[] = [
    { scenario: 'append-1x8', batch: 1, writers: 8, appends: quick ? 2000 : 20_000 },
    { scenario: 'append-100x8', batch: 100, writers: 8, appends: quick ? 200 : 2000 },
    { scenario: 'append-1x1', batch: 1, writers: 1, appends: quick ? 500 : 5000 },
    { scenario: 'append-100x1', batch: 100, writers: 1, appends: quick ? 100 : 1000 },
  ];
  try {
    for (const shape of shapes)
      if (want(shape.scenario)) await measureAppend(shape, eventlane, raw, emmett, reporter);
    if (want('handle-1x8') || want('handle-1x8-cached'))
      await measureHandle(eventlane, quick ? 2000 : 20_000, reporter);
  } finally {
    await eventlane.close();
    await raw.end();
    await emmett.close();
  }
  if (want('append-personal')) await measurePersonal(url, quick ? 2000 : 20_000, reporter);
  if (want('read-log')) await measureReadLog(url, quick ? 50_000 : 500_000, reporter);
  if (want('pglite-append-100')) await measurePglite(quick ? 50 : 500, reporter);
}
