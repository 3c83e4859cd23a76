/** Log reads filtered by event types and a stream prefix (readLog / iterateLog with `types` or `streamPrefix`). */

import { describeValue, InvalidArgumentError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { isEventType, MAX_STREAM_NAME_LENGTH } from '../events/names.js';
import type { SqlExecutor } from './drivers/driver.js';
import { compareCheckpoints, formatCheckpoint, type LogPosition } from './names.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from './event-row.js';

export interface LogFilter {
  /** Only events of these types (1–1,000 of them). */
  types?: readonly string[];
  /** Only events of streams whose name starts with this text, e.g. `order-`. */
  streamPrefix?: string;
}

export const MAX_FILTER_TYPES = 1000;

/** The checked filter, or undefined when none was asked for. */
export function checkLogFilter(options: LogFilter): Required<LogFilter> | undefined {
  const { types, streamPrefix } = options;
  if (types === undefined && streamPrefix === undefined) return undefined;
  if (types !== undefined) {
    if (!Array.isArray(types) || types.length === 0 || types.length > MAX_FILTER_TYPES) {
      throw new InvalidArgumentError(
        `types must be an array of 1 to ${MAX_FILTER_TYPES} event types, got ${describeValue(types)}. Leave it out to read every type.`,
      );
    }
    const bad = (types as unknown[]).find((t) => !isEventType(t));
    if (bad !== undefined) {
      throw new InvalidArgumentError(
        `types holds ${describeValue(bad)}, which is not an event type (e.g. "order.paid"): no event could match it.`,
        { type: describeValue(bad) },
      );
    }
  }
  if (streamPrefix !== undefined) {
    if (
      typeof streamPrefix !== 'string' ||
      streamPrefix.length === 0 ||
      streamPrefix.length > MAX_STREAM_NAME_LENGTH
    ) {
      throw new InvalidArgumentError(
        `streamPrefix must be the start of a stream name, 1 to ${MAX_STREAM_NAME_LENGTH} characters, got ` +
          `${describeValue(streamPrefix)}. Leave it out to read every stream.`,
      );
    }
  }
  return { types: types ?? [], streamPrefix: streamPrefix ?? '' };
}

/** `text` as a LIKE pattern that matches itself literally, followed by anything. */
export function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

type FilteredRow = Partial<EventRow> & { head_tx: string; head_position: string };

/**
 * One page of the filtered log after `after`, in commit order. Conditions go into the statement only when asked
 * for, as plain `type = any(…)` and `stream like 'prefix%'` on the ordered scan, so an index on (type, tx_order,
 * global_position) or on the stream serves them. The statement also reads the readable head with the same snapshot:
 * when the page comes back short, every matching event up to the head was read, so the checkpoint moves to the head
 * and the next call does not scan the same non-matching events again (and `iterateLog` reaches its end).
 */
export async function readFilteredLog(
  executor: SqlExecutor,
  schemaQ: string,
  after: string,
  position: LogPosition,
  limit: number,
  filter: Required<LogFilter>,
): Promise<{ events: StoredEvent[]; checkpoint: string }> {
  const params: unknown[] = [position.txOrder.toString(), position.globalPosition.toString(), limit];
  const conditions: string[] = [];
  if (filter.types.length > 0) {
    params.push(filter.types);
    conditions.push(`and type = any($${params.length}::text[])`);
  }
  if (filter.streamPrefix !== '') {
    params.push(likePrefix(filter.streamPrefix));
    conditions.push(`and stream like $${params.length}`);
  }
  const rows = await executor.query<FilteredRow>(
    `with snap as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
     head as (
       select tx_order::text as head_tx, global_position::text as head_position from ${schemaQ}.events
        where tx_order < (select xmin from snap)
        order by tx_order desc, global_position desc limit 1),
     page as (
       select ${EVENT_COLUMNS}, tx_order as sort_tx_order from ${schemaQ}.events
        where (tx_order, global_position) > ($1::text::xid8, $2::bigint)
          and tx_order < (select xmin from snap)
          ${conditions.join(' ')}
        order by tx_order, global_position
        limit $3)
     select page.*, head.head_tx, head.head_position from head left join page on true
      where not exists (select 1 from ${schemaQ}.archive_state a
                         where (a.deleted_tx, a.deleted_gp) > ($1::text::xid8, $2::bigint))
      order by page.sort_tx_order, page.global_position`,
    params,
  );
  const events = rows.filter((r) => r.id != null).map((r) => toStoredEvent(r as EventRow));
  const last = events[events.length - 1];
  if (events.length === limit) return { events, checkpoint: last!.checkpoint };
  const head =
    rows[0] === undefined ? undefined : formatCheckpoint(rows[0].head_tx, BigInt(rows[0].head_position));
  const checkpoint = head !== undefined && compareCheckpoints(head, after) > 0 ? head : after;
  return { events, checkpoint };
}
