/**
 * The last step of an archive run: the events of verified segments leave the events table, in small batches, each
 * moving archive_state's deleted checkpoint in the same transaction.
 */

import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { ArchiveSegmentError, type ArchiveHolder } from '../errors.js';
import { compareCheckpoints, LOG_START, parseCheckpoint } from '../store/names.js';
import { findHolders, lowestLimit, publicHolder } from './holders.js';
import { killPoint } from './kill-points.js';
import { writeManifest } from './manifest.js';
import { openSegment } from './segment.js';
import { logEnd, rollBackFrom, segmentRows, type Ctx, type SegmentRow } from './segment-rows.js';

/**
 * Deletes the events of verified segments from the table, in order, as far as every holder allows now (a
 * consumer or replay job may have appeared since the bound was chosen). Each segment is read back once more first.
 */
export async function deleteVerified(ctx: Ctx): Promise<{ deleted: number; heldBy: ArchiveHolder[] }> {
  const { ex, q, o } = ctx;
  const rows = await segmentRows(ex, q);
  const pending = rows.filter((s) => s.state === 'verified');
  if (pending.length === 0) return { deleted: 0, heldBy: [] };
  const [state] = await ex.query<{ deleted: string }>(
    `select deleted_tx::text || ':' || deleted_gp as deleted from ${q}.archive_state`,
  );
  // Where the table starts for every stream: open streams' events before the deleted checkpoint may still be there.
  const deletedTo = state?.deleted ?? LOG_START;
  const end = logEnd(rows.filter((r) => r.state === 'deleted'));
  const from = compareCheckpoints(end, deletedTo) < 0 ? end : deletedTo;
  const lastPending = pending[pending.length - 1]!.last;
  const holders = await findHolders(ex, q, from, lastPending);
  const limit = lowestLimit(lastPending, holders, from);
  let deleted = 0;
  for (const seg of pending) {
    if (compareCheckpoints(seg.last, limit) > 0) {
      // The segment stays verified, its events in the table, until these have passed it.
      const heldBy = holders.filter((h) => compareCheckpoints(h.limit, seg.last) < 0).map(publicHolder);
      return { deleted, heldBy };
    }
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
  return { deleted, heldBy: [] };
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
