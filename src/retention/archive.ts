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
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, LOG_START, parseCheckpoint, quoteIdent } from '../store/names.js';
import { readTableRange, type SegmentScope } from './table-range.js';
import { findHolders, lowestLimit, publicHolder } from './holders.js';
import { killPoint } from './kill-points.js';
import { takeArchiveLease } from './lease.js';
import { deleteVerified } from './delete.js';
import { checkTarget, readStoreId, removeStrays, writeManifest } from './manifest.js';
import { logEnd, rollBackFrom, segmentRows, type Ctx, type SegmentRow } from './segment-rows.js';
import { checkArchiveOptions, resolveBound, type ArchiveOptions } from './options.js';
import { encodeEvent, openSegment, segmentFileName, writeSegment } from './segment.js';

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
  /**
   * What kept verified segments' events in the events table this run (a consumer, relay, projection version or
   * replay job that appeared, or fell behind, after the bound was chosen, or since an earlier run): their deletion
   * resumes on a later run once these have passed them. Empty when every verified segment was deleted.
   */
  deletionHeldBy: ArchiveHolder[];
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
    deleted += (await deleteVerified(ctx)).deleted;
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
    const closedStreamsOnly = scope === 'closed-streams';
    const page = await readTableRange(ex, q, { after, until: bound, closedStreamsOnly }, 5000);
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
  const deletion = await deleteVerified(ctx);
  deleted += deletion.deleted;
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
    deletionHeldBy: deletion.heldBy,
    segments: written,
    exported,
    deleted,
    resumed,
    archivedThrough: total?.last ?? null,
    archivedEvents: Number(total?.n ?? 0),
  };
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
