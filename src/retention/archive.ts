/**
 * An archive run: moves the oldest events of the log (or, with `closedStreamsOnly`, the closed streams' events), in
 * commit order, from the events table to checksummed gzip NDJSON segments, and leaves the store able to read them
 * through (src/retention/read-through.ts).
 *
 * Each segment goes through three states recorded in archive_segments, and a run first finishes what an earlier
 * one left: 'exported' (the file is in place: written to a temp name, fsynced, renamed), 'verified' (read back:
 * checksum, count, range), 'deleted' (its events left the table, 5,000 per transaction by default, each batch
 * moving archive_state's deleted checkpoint in the same transaction). Files the database does not know (a crash
 * between the rename and the insert) are removed and written again. So a kill at any point, then a rerun, loses no
 * event and archives none twice.
 */

import {
  ArchiveHeldBackError,
  ArchiveSegmentError,
  ArchiveTargetError,
  type ArchiveHolder,
} from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, LOG_START, parseCheckpoint, quoteIdent } from '../store/names.js';
import { readExportPage, type SegmentScope } from './export-source.js';
import { findHolders, lowestLimit } from './holders.js';
import { killPoint } from './kill-points.js';
import { takeArchiveLease, type ArchiveLease } from './lease.js';
import { checkTarget, readStoreId, removeStrays, writeManifest } from './manifest.js';
import {
  checkArchiveOptions,
  resolveBound,
  type ArchiveOptions,
  type CheckedArchiveOptions,
} from './options.js';
import {
  encodeEvent,
  openSegment,
  removeFile,
  segmentFileName,
  writeSegment,
  type SegmentRef,
} from './segment.js';
import { join } from 'node:path';

export type { ArchiveOptions, ArchiveProgress } from './options.js';

export interface ArchiveResult {
  /** The archive directory (absolute). */
  dir: string;
  /** `before` as a checkpoint: the last event asked to be archived. */
  requested: string;
  /** The last event archived by this run's bound: `requested`, or lower when `heldBy` is not empty. */
  bound: string;
  /** What kept the bound lower than asked: each names a consumer, relay, projection version or replay job. */
  heldBy: ArchiveHolder[];
  /** Segments this run wrote. */
  segments: string[];
  /** Events this run wrote to segments. */
  exported: number;
  /** Events this run deleted from the events table. */
  deleted: number;
  /** Segments left by an earlier, interrupted run that this run finished. */
  resumed: string[];
  /**
   * The last archived checkpoint (null: nothing archived). The archive holds the log from its start up to it, less
   * the open streams' events that `closedStreamsOnly` runs left in the table.
   */
  archivedThrough: string | null;
  /** Events in the archive in all. */
  archivedEvents: number;
}

interface SegmentRow extends SegmentRef {
  state: 'exported' | 'verified' | 'deleted';
  scope: SegmentScope;
}

interface Ctx {
  db: EventStore;
  ex: SqlExecutor;
  q: string;
  o: CheckedArchiveOptions;
  lease: ArchiveLease;
  store: { id: string; schema: string };
}

async function segmentRows(ex: SqlExecutor, q: string): Promise<SegmentRow[]> {
  const rows = await ex.query<{
    seq: number;
    file: string;
    first: string;
    last: string;
    events: string;
    sha256: string;
    state: SegmentRow['state'];
    scope: SegmentScope;
  }>(
    `select seq, file, first_tx::text || ':' || first_gp as first, last_tx::text || ':' || last_gp as last,
            events::text as events, sha256, state, scope
       from ${q}.archive_segments order by seq`,
  );
  return rows.map((r) => ({ ...r, seq: Number(r.seq), events: Number(r.events) }));
}

/** Archives the events before `options.before` to segments in `options.to` and deletes them from the events table. */
export async function archive(store: EventStore, options: ArchiveOptions): Promise<ArchiveResult> {
  const o = checkArchiveOptions(options);
  const ex = store.executor;
  const q = quoteIdent(store.schema);
  const id = await readStoreId(ex, q);
  const [state] = await ex.query<{ dir: string | null }>(`select dir from ${q}.archive_state`);
  if (state?.dir != null && state.dir !== o.dir) {
    throw new ArchiveTargetError(
      `This store archives to ${state.dir}, not ${o.dir}: one store keeps one archive directory. Pass --to ` +
        `${state.dir} (on a host that mounts it elsewhere, readers take createEventStore({ archive: { dir } })).`,
      { dir: o.dir, recorded: state.dir },
    );
  }
  const found = await checkTarget(o.dir, id);
  const requested = await resolveBound(ex, q, o.before);
  const lease = await takeArchiveLease(ex, q);
  const ctx: Ctx = { db: store, ex, q, o, lease, store: { id, schema: store.schema } };
  try {
    await ex.query(`update ${q}.archive_state set dir = $1, updated_at = now() where dir is null`, [o.dir]);
    if (found === null) await writeManifest(ex, q, o.dir, ctx.store);
    return await run(ctx, requested);
  } finally {
    await lease.release().catch(() => undefined);
  }
}

async function run(ctx: Ctx, requested: string): Promise<ArchiveResult> {
  const { ex, q, o } = ctx;
  let rows = await segmentRows(ex, q);
  await removeStrays(o.dir, new Set(rows.map((r) => r.file)));
  const resumed: string[] = [];
  // An earlier run's exported segments: check them now, or drop them (their events are all still in the table).
  for (const r of rows.filter((s) => s.state === 'exported')) {
    try {
      await openSegment(o.dir, r);
    } catch (error) {
      if (!(error instanceof ArchiveSegmentError)) throw error;
      await rollBackFrom(ctx, r.seq);
      break;
    }
    await ex.query(
      `update ${q}.archive_segments set state = 'verified', verified_at = now() where seq = $1 and state = 'exported'`,
      [r.seq],
    );
    resumed.push(r.file);
  }
  rows = await segmentRows(ex, q);
  await writeManifest(ex, q, o.dir, ctx.store);
  const scope: SegmentScope = o.closedStreamsOnly ? 'closed-streams' : 'log';
  let deleted = 0;
  // What a run exports is read from the table, so the segments it could overlap must have left it first: a
  // closed-streams run needs every earlier segment deleted, a log run every earlier closed-streams segment.
  const blocks = (r: SegmentRow): boolean =>
    r.state !== 'deleted' && (scope === 'closed-streams' || r.scope === 'closed-streams');
  if (rows.some(blocks)) {
    deleted += await deleteVerified(ctx);
    rows = await segmentRows(ex, q);
    const pending = rows.filter(blocks);
    if (pending.length > 0) {
      const holders = await findHolders(ex, q, logEnd(rows), pending[pending.length - 1]!.last);
      throw new ArchiveHeldBackError(requested, LOG_START, holders.map(publicHolder));
    }
  }
  // The events table holds nothing at or before the end of the log segments.
  let end = logEnd(rows);
  const heldBy = await findHolders(ex, q, end, requested);
  const bound = lowestLimit(requested, heldBy, end);
  const wantsMore = compareCheckpoints(requested, end) > 0;
  if (heldBy.length > 0 && (o.strict || (wantsMore && compareCheckpoints(bound, end) <= 0))) {
    throw new ArchiveHeldBackError(
      requested,
      compareCheckpoints(bound, end) > 0 ? bound : LOG_START,
      heldBy.map(publicHolder),
    );
  }
  const written: string[] = [];
  let exported = 0;
  let seq = (rows[rows.length - 1]?.seq ?? 0) + 1;
  let lines: string[] = [];
  let batch: StoredEvent[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const file = await exportSegment(ctx, seq, batch, lines, scope);
    written.push(file);
    exported += batch.length;
    end = batch[batch.length - 1]!.checkpoint;
    seq++;
    lines = [];
    batch = [];
    bytes = 0;
  };
  for (let after = end; compareCheckpoints(after, bound) < 0;) {
    const page = await readExportPage(ex, q, scope, after, bound, 5000);
    if (page.length === 0) break;
    for (const e of page) {
      const line = encodeEvent(e);
      lines.push(line);
      batch.push(e);
      bytes += Buffer.byteLength(line) + 1;
      if (bytes >= o.segmentBytes) await flush();
    }
    after = page[page.length - 1]!.checkpoint;
  }
  await flush();
  deleted += await deleteVerified(ctx);
  const [total] = await ex.query<{ n: string; last: string | null }>(
    `select coalesce(sum(events), 0)::text as n,
            (select last_tx::text || ':' || last_gp from ${q}.archive_segments
              order by last_tx desc, last_gp desc limit 1) as last
       from ${q}.archive_segments`,
  );
  return {
    dir: o.dir,
    requested,
    bound,
    heldBy: heldBy.map(publicHolder),
    segments: written,
    exported,
    deleted,
    resumed,
    archivedThrough: total?.last ?? null,
    archivedEvents: Number(total?.n ?? 0),
  };
}

const publicHolder = ({ kind, name, checkpoint }: ArchiveHolder): ArchiveHolder => ({
  kind,
  name,
  checkpoint,
});

/** The end of the last segment that holds every event of its range (LOG_START when there is none). */
function logEnd(rows: readonly SegmentRow[]): string {
  let end = LOG_START;
  for (const r of rows) if (r.scope === 'log' && compareCheckpoints(r.last, end) > 0) end = r.last;
  return end;
}

/** Writes one segment, records it, reads it back, and marks it verified. */
async function exportSegment(
  ctx: Ctx,
  seq: number,
  events: StoredEvent[],
  lines: string[],
  scope: SegmentScope,
): Promise<string> {
  const { ex, q, o } = ctx;
  const first = events[0]!.checkpoint;
  const last = events[events.length - 1]!.checkpoint;
  const file = segmentFileName(seq, first, last);
  const { bytes, sha256 } = await writeSegment(o.dir, file, lines);
  killPoint('export');
  const types: Record<string, number> = {};
  for (const e of events) types[e.type] = (types[e.type] ?? 0) + 1;
  const f = parseCheckpoint(first);
  const l = parseCheckpoint(last);
  await ex.query(
    `insert into ${q}.archive_segments
       (seq, file, first_tx, first_gp, last_tx, last_gp, events, bytes, sha256, type_counts, state, scope)
     values ($1, $2, $3::text::xid8, $4, $5::text::xid8, $6, $7, $8, $9, $10::jsonb, 'exported', $11)`,
    [
      seq,
      file,
      f.txOrder.toString(),
      f.globalPosition.toString(),
      l.txOrder.toString(),
      l.globalPosition.toString(),
      events.length,
      bytes,
      sha256,
      JSON.stringify(types),
      scope,
    ],
  );
  o.onProgress({ step: 'exported', segment: file, events: events.length });
  killPoint('verify');
  await openSegment(o.dir, { seq, file, first, last, events: events.length, sha256 });
  await ex.query(
    `update ${q}.archive_segments set state = 'verified', verified_at = now() where seq = $1 and state = 'exported'`,
    [seq],
  );
  o.onProgress({ step: 'verified', segment: file, events: events.length });
  await writeManifest(ex, q, o.dir, ctx.store);
  await ctx.lease.renew();
  return file;
}

/** Drops the not-yet-deleted segments from `seq` on (their events are all still in the table) and their files. */
async function rollBackFrom(ctx: Ctx, seq: number): Promise<void> {
  const gone = await ctx.ex.query<{ file: string }>(
    `delete from ${ctx.q}.archive_segments where seq >= $1 and state <> 'deleted' returning file`,
    [seq],
  );
  for (const g of gone) await removeFile(join(ctx.o.dir, g.file));
}

/**
 * Deletes the events of verified segments from the table, in order, as far as every holder allows now (a
 * consumer or replay job may have appeared since the bound was chosen). Each segment is read back once more first.
 */
async function deleteVerified(ctx: Ctx): Promise<number> {
  const { ex, q, o } = ctx;
  const rows = await segmentRows(ex, q);
  const pending = rows.filter((s) => s.state === 'verified');
  if (pending.length === 0) return 0;
  const [state] = await ex.query<{ deleted: string }>(
    `select deleted_tx::text || ':' || deleted_gp as deleted from ${q}.archive_state`,
  );
  // Where the table starts for every stream: open streams' events before the deleted checkpoint may still be there.
  const deletedTo = state?.deleted ?? LOG_START;
  const end = logEnd(rows.filter((r) => r.state === 'deleted'));
  const from = compareCheckpoints(end, deletedTo) < 0 ? end : deletedTo;
  const lastPending = pending[pending.length - 1]!.last;
  const limit = lowestLimit(lastPending, await findHolders(ex, q, from, lastPending), from);
  let deleted = 0;
  for (const seg of pending) {
    if (compareCheckpoints(seg.last, limit) > 0) break;
    let events: StoredEvent[];
    try {
      events = await openSegment(o.dir, seg);
    } catch (error) {
      if (error instanceof ArchiveSegmentError) await rollBackFrom(ctx, seg.seq);
      throw error;
    }
    deleted += await deleteSegmentEvents(ctx, seg, events);
    await ex.query(`update ${q}.archive_segments set state = 'deleted', deleted_at = now() where seq = $1`, [
      seg.seq,
    ]);
    o.onProgress({ step: 'deleted', segment: seg.file, events: seg.events });
    killPoint('deleted');
    await writeManifest(ex, q, o.dir, ctx.store);
    await ctx.lease.renew();
  }
  return deleted;
}

async function deleteSegmentEvents(ctx: Ctx, seg: SegmentRow, events: StoredEvent[]): Promise<number> {
  const { o } = ctx;
  const last = parseCheckpoint(seg.last);
  // A closed-streams segment holds some streams of its range only: the others' events stay.
  const only =
    seg.scope === 'closed-streams' ? { first: parseCheckpoint(seg.first), streams: [] as string[] } : null;
  const through = new Map<string, number>();
  for (const e of events) through.set(e.stream, Math.max(through.get(e.stream) ?? 0, e.streamPosition));
  if (only !== null) only.streams = [...through.keys()];
  let deleted = 0;
  let first = true;
  for (;;) {
    await ctx.lease.renew();
    // One transaction: the stream index (first batch only), a batch, and the deleted checkpoint.
    const n = await deleteBatch(ctx, last, o.deleteBatch, first ? { seq: seg.seq, through } : null, only);
    first = false;
    deleted += n;
    if (n > 0) killPoint('delete');
    if (n < o.deleteBatch) break;
  }
  return deleted;
}

async function deleteBatch(
  ctx: Ctx,
  last: { txOrder: bigint; globalPosition: bigint },
  size: number,
  streams: { seq: number; through: Map<string, number> } | null,
  only: { first: { txOrder: bigint; globalPosition: bigint }; streams: string[] } | null,
): Promise<number> {
  const { q } = ctx;
  const run = async (tx: Pick<SqlExecutor, 'query'>): Promise<number> => {
    if (streams !== null) {
      // Where each stream's archived events are, written before any of them leaves the table.
      await tx.query(
        `insert into ${q}.archived_streams as a (stream, archived_through, first_seq, last_seq)
         select s, p, $3, $3 from unnest($1::text[], $2::bigint[]) as t(s, p)
         on conflict (stream) do update
           set archived_through = greatest(a.archived_through, excluded.archived_through),
               first_seq = least(a.first_seq, excluded.first_seq),
               last_seq = greatest(a.last_seq, excluded.last_seq)`,
        [[...streams.through.keys()], [...streams.through.values()], streams.seq],
      );
    }
    const gone = await tx.query<{ tx: string; gp: string }>(
      only === null
        ? `delete from ${q}.events where global_position in (
             select global_position from ${q}.events
              where (tx_order, global_position) <= ($1::text::xid8, $2::bigint)
              order by tx_order, global_position limit $3)
           returning tx_order::text as tx, global_position::text as gp`
        : `delete from ${q}.events where global_position in (
             select global_position from ${q}.events
              where (tx_order, global_position) <= ($1::text::xid8, $2::bigint)
                and (tx_order, global_position) >= ($4::text::xid8, $5::bigint)
                and stream = any($6::text[])
              order by tx_order, global_position limit $3)
           returning tx_order::text as tx, global_position::text as gp`,
      only === null
        ? [last.txOrder.toString(), last.globalPosition.toString(), size]
        : [
            last.txOrder.toString(),
            last.globalPosition.toString(),
            size,
            only.first.txOrder.toString(),
            only.first.globalPosition.toString(),
            only.streams,
          ],
    );
    if (gone.length === 0) return 0;
    let max = gone[0]!;
    for (const g of gone) {
      const c = BigInt(g.tx) - BigInt(max.tx);
      if (c > 0n || (c === 0n && BigInt(g.gp) > BigInt(max.gp))) max = g;
    }
    await tx.query(
      `update ${q}.archive_state set deleted_tx = greatest(deleted_tx, $1::text::xid8),
              deleted_gp = case when $1::text::xid8 > deleted_tx or ($1::text::xid8 = deleted_tx and $2::bigint > deleted_gp)
                                then $2::bigint else deleted_gp end,
              updated_at = now()`,
      [max.tx, max.gp],
    );
    return gone.length;
  };
  return ctx.db.transaction((tx) => run(tx));
}
