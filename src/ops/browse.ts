// Reading history as operators do: a stream, streams by prefix, an event by id, events by type and time, the log
// from a checkpoint. Every query is bounded by a limit; user input only ever reaches SQL as parameters.

import { NotFoundError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../store/read.js';

/** The most events or streams one browse call returns. */
export const MAX_BROWSE_LIMIT = 1000;

export interface StreamSummary {
  stream: string;
  version: number;
}

/** Streams whose name starts with `prefix`, in name order. */
export async function findStreams(
  store: EventStore,
  options: { prefix?: string; limit: number },
): Promise<StreamSummary[]> {
  const prefix = (options.prefix ?? '').replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = await store.executor.query<{ stream: string; version: string }>(
    `select stream, version::text as version from ${quoteIdent(store.schema)}.streams
      where stream like $1 || '%' order by stream limit $2`,
    [prefix, options.limit],
  );
  return rows.map((r) => ({ stream: r.stream, version: Number(r.version) }));
}

/** Personal fields decrypted (or erased), then upcast; an event whose field fails to decrypt is shown as stored. */
async function upcast(store: EventStore, events: StoredEvent[]): Promise<StoredEvent[]> {
  const revealed = await store.reveal(events, 'mark');
  const contracts = store.contracts;
  return contracts === undefined ? revealed : revealed.map((e) => contracts.upcast(e));
}

export async function findEvent(store: EventStore, id: string): Promise<StoredEvent> {
  const [row] = await store.executor.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${quoteIdent(store.schema)}.events where id = $1`,
    [id],
  );
  if (row === undefined) {
    throw new NotFoundError(`No event has id ${id} in schema ${store.schema}.`, { id });
  }
  return (await upcast(store, [toStoredEvent(row)]))[0]!;
}

/**
 * Events of one type and/or a time range (when they were recorded), in log order. Without an index on type this
 * scans the events table: fine for an operator's question, not for a hot path.
 */
export async function findEvents(
  store: EventStore,
  options: { type?: string; from?: Date; to?: Date; limit: number },
): Promise<StoredEvent[]> {
  const rows = await store.executor.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${quoteIdent(store.schema)}.events
      where ($1::text is null or type = $1)
        and ($2::timestamptz is null or recorded_at >= $2)
        and ($3::timestamptz is null or recorded_at < $3)
      order by global_position limit $4`,
    [options.type ?? null, options.from ?? null, options.to ?? null, options.limit],
  );
  return upcast(store, rows.map(toStoredEvent));
}

/** An event as JSON: bigint positions as strings. */
export function eventJson(e: StoredEvent): Record<string, unknown> {
  return { ...e, globalPosition: e.globalPosition.toString() };
}
