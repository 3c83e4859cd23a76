/**
 * What holds events in the events table: every reader that reads it directly, by checkpoint or by stream, and has
 * not passed them yet. An archive run deletes only events every one of them has passed.
 */

import type { ArchiveHolder } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { compareCheckpoints, parseCheckpoint } from '../store/names.js';

/** A holder and the last checkpoint it allows to archive (every event at or before it has been passed). */
export interface HolderLimit extends ArchiveHolder {
  /** The greatest checkpoint that may leave the events table for this holder. */
  limit: string;
}

/** The event just before `checkpoint` in commit order, or `floor` when none is left in the table. */
async function previous(ex: SqlExecutor, q: string, checkpoint: string, floor: string): Promise<string> {
  const p = parseCheckpoint(checkpoint);
  const [row] = await ex.query<{ c: string }>(
    `select tx_order::text || ':' || global_position as c from ${q}.events
      where (tx_order, global_position) < ($1::text::xid8, $2::bigint)
      order by tx_order desc, global_position desc limit 1`,
    [p.txOrder.toString(), p.globalPosition.toString()],
  );
  return row === undefined ? floor : row.c;
}

/**
 * Every holder whose limit is before `bound`, the earliest first. `from` is where the events table starts (the
 * archive's end so far): a stream-level holder is looked for in (from, bound] only.
 */
export async function findHolders(
  ex: SqlExecutor,
  q: string,
  from: string,
  bound: string,
): Promise<HolderLimit[]> {
  const out: HolderLimit[] = [];
  const add = (kind: ArchiveHolder['kind'], name: string, checkpoint: string, limit = checkpoint): void => {
    if (compareCheckpoints(limit, bound) < 0) out.push({ kind, name, checkpoint, limit });
  };
  // Every consumer, log or bus, through its order guard: the first event of the range it has not applied. Not the
  // log consumers' partition checkpoints: each stays at the last event of its partition, however far the reader
  // went, so a quiet partition would hold the archive for good; and a log worker that resumes from one reads
  // through the archive anyway.
  const f = parseCheckpoint(from);
  const b = parseCheckpoint(bound);
  const guarded = await ex.query<{ consumer: string; first: string }>(
    `select c.name as consumer, x.tx_order::text || ':' || x.global_position as first
       from (select distinct consumer as name from ${q}.consumer_streams
             union select distinct consumer from ${q}.consumer_checkpoints) c
       cross join lateral (
         select e.tx_order, e.global_position from ${q}.events e
           left join ${q}.consumer_streams s on s.consumer = c.name and s.stream = e.stream
          where (e.tx_order, e.global_position) > ($1::text::xid8, $2::bigint)
            and (e.tx_order, e.global_position) <= ($3::text::xid8, $4::bigint)
            and e.stream_position > coalesce(s.position, 0)
          order by e.tx_order, e.global_position limit 1) x`,
    [f.txOrder.toString(), f.globalPosition.toString(), b.txOrder.toString(), b.globalPosition.toString()],
  );
  for (const g of guarded) {
    add('consumer', g.consumer, await previous(ex, q, g.first, from));
  }
  const relays = await ex.query<{ name: string; checkpoint: string }>(
    `select name, checkpoint from ${q}.relay_checkpoints`,
  );
  for (const r of relays) add('relay', r.name, r.checkpoint);
  const projections = await ex.query<{ name: string; version: number; checkpoint: string }>(
    `select name, version, checkpoint from ${q}.projections where status in ('building', 'live')`,
  );
  for (const p of projections) add('projection', `${p.name}@v${p.version}`, p.checkpoint);
  const jobs = await ex.query<{ id: string; kind: string; consumer: string; checkpoint: string }>(
    `select id, kind, consumer, checkpoint from ${q}.replay_jobs where state in ('queued', 'running', 'paused')`,
  );
  for (const j of jobs) add('replay-job', `${j.id} (${j.kind} of ${j.consumer})`, j.checkpoint);
  // Events a relay set aside are published later from the events table.
  const parked = await ex.query<{ relay: string; first: string }>(
    `select distinct on (relay) relay, tx_order::text || ':' || global_position as first from ${q}.relay_parked
      where status in ('parked', 'held', 'retry', 'skip')
      order by relay, tx_order, global_position`,
  );
  for (const p of parked) add('relay-parked-event', p.relay, await previous(ex, q, p.first, from));
  // The earliest limit first; one entry per holder and kind (a consumer may appear by checkpoint and by guard).
  out.sort((a, b2) => compareCheckpoints(a.limit, b2.limit));
  const seen = new Set<string>();
  return out.filter((h) => {
    const key = `${h.kind}\u0000${h.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A holder as results and errors show it: without the limit it was compared by. */
export const publicHolder = ({ kind, name, checkpoint }: ArchiveHolder): ArchiveHolder => ({
  kind,
  name,
  checkpoint,
});

/** The bound lowered to what every holder allows (never below `from`). */
export function lowestLimit(bound: string, holders: readonly HolderLimit[], from: string): string {
  let limit = bound;
  for (const h of holders) if (compareCheckpoints(h.limit, limit) < 0) limit = h.limit;
  return compareCheckpoints(limit, from) < 0 ? from : limit;
}
