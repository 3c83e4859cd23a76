/** A row of the events table as log and stream reads select it, and its conversion to a StoredEvent. */

import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import type { JsonValue } from '../events/json.js';
import { formatCheckpoint } from './names.js';

/** Raw row of the events table, as selected by EVENT_COLUMNS. */
export interface EventRow {
  global_position: string | number | bigint;
  tx_order_text: string;
  id: string;
  stream: string;
  stream_position: string | number | bigint;
  type: string;
  version: number;
  data: JsonValue;
  metadata: EventMetadata;
  occurred_ms: number;
  recorded_ms: number;
}

// Timestamps travel as epoch milliseconds: building a Date from a number is several times cheaper than the
// driver parsing timestamptz text, and log reads are dominated by row decoding (see BENCHMARKS.md, read-log).
export const EVENT_COLUMNS =
  'global_position, tx_order::text as tx_order_text, id, stream, stream_position, type, version, data, metadata, ' +
  '(extract(epoch from occurred_at) * 1000)::float8 as occurred_ms, (extract(epoch from recorded_at) * 1000)::float8 as recorded_ms';

export function toStoredEvent(row: EventRow): StoredEvent {
  const globalPosition = BigInt(row.global_position);
  return {
    id: row.id,
    type: row.type,
    version: row.version,
    stream: row.stream,
    streamPosition: Number(row.stream_position),
    globalPosition,
    checkpoint: formatCheckpoint(row.tx_order_text, globalPosition),
    data: row.data,
    metadata: row.metadata,
    occurredAt: new Date(Math.floor(row.occurred_ms)),
    recordedAt: new Date(Math.floor(row.recorded_ms)),
  };
}
