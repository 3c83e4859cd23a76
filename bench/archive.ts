/**
 * Retention benchmark.
 *   archive                  `archive()` of the oldest part of the log: events per second exported to segments,
 *                            read back and checked, and deleted from the events table (the whole run).
 *   rebuild-through-archive  the rebuild of bench/rebuild.ts (createProjections, batch handler) over the same log
 *                            once most of it is archived, next to the same rebuild before archiving: vsHot.
 * Options: --events=N (default 1,000,000), --streams=N (default 10,000), --fraction=F of the log archived
 * (default 0.9), --segment-bytes=N (default 16 MiB).
 * Both rebuilt tables are checked: their per-stream counts must sum to the events in the log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  archive,
  createEventStore,
  createProjections,
  defineProjection,
  type EventStore,
} from '../src/index.js';
import { quoteIdent } from '../src/store/names.js';
import { round, rssMb, type Reporter } from './report.js';
import { DDL, sumCounts, upsertPage, writeLog } from './rebuild.js';

const URL = process.env.EVENTLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function arg(args: string[], name: string, fallback: number): number {
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (eq !== undefined) return Number(eq.slice(name.length + 3));
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function rebuild(store: EventStore, name: string): Promise<{ seconds: number; applied: number }> {
  const projections = createProjections(store, {
    projections: [
      defineProjection({
        name,
        version: 1,
        tables: { [name]: DDL(':TABLE:') },
        batch: (events, { query, tables }) => upsertPage(query, tables[name]!, events),
      }),
    ],
    schema: store.schema,
    pageSize: 5000,
  });
  const started = performance.now();
  await projections.start();
  await projections.waitLive(name, 3_600_000);
  const seconds = (performance.now() - started) / 1000;
  await projections.stop();
  return { seconds, applied: await sumCounts(store, `${quoteIdent(store.schema)}.${name}`) };
}

export async function run(args: string[], reporter: Reporter): Promise<void> {
  const total = arg(args, 'events', 1_000_000);
  const streams = arg(args, 'streams', 10_000);
  const fraction = arg(args, 'fraction', 0.9);
  const segmentBytes = arg(args, 'segment-bytes', 16 * 1024 * 1024);
  const schema = `bench_archive_${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'eventlane-bench-archive-'));
  const store = await createEventStore({ url: URL, schema, poolSize: 12 });
  const q = quoteIdent(schema);
  try {
    const writeSec = await writeLog(store, total, streams);
    process.stderr.write(`  wrote ${total} events in ${writeSec.toFixed(1)} s (8 writers)\n`);
    await store.executor.query(`vacuum analyze ${q}.events`).catch(() => undefined);

    const hot = await rebuild(store, 'summary_hot');
    const hotRate = total / hot.seconds;
    process.stderr.write(`  rebuilt from the table: ${Math.round(hotRate)} events/s\n`);

    const [bound] = await store.executor.query<{ c: string }>(
      `select tx_order::text || ':' || global_position as c from ${q}.events
        order by tx_order, global_position offset $1 limit 1`,
      [Math.max(0, Math.floor(total * fraction) - 1)],
    );
    const started = performance.now();
    const result = await archive(store, { before: bound!.c, to: dir, segmentBytes });
    const archiveSec = (performance.now() - started) / 1000;
    reporter.add({
      scenario: 'archive',
      events: result.deleted,
      eventsPerSec: Math.round(result.deleted / archiveSec),
      segments: result.segments.length,
      seconds: round(archiveSec),
      complete: result.exported === result.deleted && result.deleted === Math.floor(total * fraction),
      rssMb: rssMb(),
    });
    await store.executor.query(`vacuum analyze ${q}.events`).catch(() => undefined);

    const through = await rebuild(store, 'summary_archived');
    const rate = total / through.seconds;
    reporter.add({
      scenario: 'rebuild-through-archive',
      events: total,
      archived: result.deleted,
      eventsPerSec: Math.round(rate),
      hotEventsPerSec: Math.round(hotRate),
      vsHot: round(rate / hotRate),
      complete: through.applied === total && hot.applied === total,
      rssMb: rssMb(),
    });
  } finally {
    await store.executor.query(`drop schema ${q} cascade`).catch(() => undefined);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
