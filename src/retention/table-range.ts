/**
 * What an archive run exports, read straight from the events table in commit order (never through the archive,
 * and without the readers' deleted-checkpoint guard: a run archiving leftovers of open streams starts behind it).
 *
 * - scope 'log': every event after the end of the log segments, up to the bound.
 * - scope 'closed-streams': the events of closed streams whose final event is at or before the bound, whole
 *   streams (a closed stream takes no more appends, so its final event is its last in commit order).
 *
 * The bound is never past the readable head, so every transaction that could write at or before it has ended.
 */

import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../store/event-row.js';
import { parseCheckpoint } from '../store/names.js';

export type SegmentScope = 'log' | 'closed-streams';

/** Up to `limit` events to export after `after` (exclusive) and at or before `bound`, in commit order. */
export async function readExportPage(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  scope: SegmentScope,
  after: string,
  bound: string,
  limit: number,
): Promise<StoredEvent[]> {
  const a = parseCheckpoint(after);
  const b = parseCheckpoint(bound);
  const closedOnly =
    scope === 'log'
      ? ''
      : `and exists (
           select 1 from ${q}.streams s
             join ${q}.events f on f.stream = s.stream and f.stream_position = s.version
            where s.stream = e.stream and s.closed_at is not null
              and (f.tx_order, f.global_position) <= ($3::text::xid8, $4::bigint))`;
  const rows = await ex.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${q}.events e
      where (e.tx_order, e.global_position) > ($1::text::xid8, $2::bigint)
        and (e.tx_order, e.global_position) <= ($3::text::xid8, $4::bigint)
        ${closedOnly}
      order by e.tx_order, e.global_position
      limit $5`,
    [
      a.txOrder.toString(),
      a.globalPosition.toString(),
      b.txOrder.toString(),
      b.globalPosition.toString(),
      limit,
    ],
  );
  return rows.map(toStoredEvent);
}
