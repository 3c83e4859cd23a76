/**
 * Reads of the events table between two checkpoints, in commit order, for the archive: what a run exports, and the
 * rows a read-through merges with the segments. Straight from the table (never through the archive), without the
 * readers' deleted-checkpoint guard: a run archiving leftovers of open streams starts behind it.
 *
 * What an archive run exports, by scope:
 * - 'log': every event after the end of the log segments, up to the bound.
 * - 'closed-streams': the events of closed streams whose final event is at or before the bound, whole streams (a
 *   closed stream takes no more appends, so its final event is its last in commit order).
 *
 * The bound is never past the readable head, so every transaction that could write at or before it has ended.
 */

import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../store/event-row.js';
import { parseCheckpoint } from '../store/names.js';
import { likePrefix } from '../store/read-filtered.js';

export type SegmentScope = 'log' | 'closed-streams';

export interface TableRange {
  /** Exclusive. */
  after: string;
  /** Inclusive. */
  until: string;
  /** Only these event types (none: every type). */
  types?: readonly string[] | null;
  /** Only streams whose name starts with this. */
  streamPrefix?: string | null;
  /** Only events of streams closed by a final event at or before `until` (a closed-streams archive run). */
  closedStreamsOnly?: boolean;
}

/**
 * Up to `limit` events of the table in the range, in commit order. Each filter enters the statement only when it is
 * given, as plain conditions on the ordered scan (the prefix as a `like` that matches it literally), so the planner
 * sees the same shapes as the log reads'.
 */
export async function readTableRange(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  range: TableRange,
  limit: number,
): Promise<StoredEvent[]> {
  const a = parseCheckpoint(range.after);
  const b = parseCheckpoint(range.until);
  const params: unknown[] = [
    a.txOrder.toString(),
    a.globalPosition.toString(),
    b.txOrder.toString(),
    b.globalPosition.toString(),
    limit,
  ];
  const conditions: string[] = [];
  if (range.types != null) {
    params.push(range.types);
    conditions.push(`and e.type = any($${params.length}::text[])`);
  }
  if (range.streamPrefix != null && range.streamPrefix !== '') {
    params.push(likePrefix(range.streamPrefix));
    conditions.push(`and e.stream like $${params.length}`);
  }
  if (range.closedStreamsOnly === true) {
    conditions.push(`and exists (
           select 1 from ${q}.streams s
             join ${q}.events f on f.stream = s.stream and f.stream_position = s.version
            where s.stream = e.stream and s.closed_at is not null
              and (f.tx_order, f.global_position) <= ($3::text::xid8, $4::bigint))`);
  }
  const rows = await ex.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${q}.events e
      where (e.tx_order, e.global_position) > ($1::text::xid8, $2::bigint)
        and (e.tx_order, e.global_position) <= ($3::text::xid8, $4::bigint)
        ${conditions.join('\n        ')}
      order by e.tx_order, e.global_position
      limit $5`,
    params,
  );
  return rows.map(toStoredEvent);
}
