import { InvalidArgumentError, RelayParkedNotFoundError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { parkedIdOf, skipNoteOf } from '../events/operator-input.js';

/** An event a relay set aside, as an operator sees it. */
export interface RelayParkedEvent {
  id: string;
  relay: string;
  eventId: string;
  stream: string;
  streamPosition: number;
  eventType: string;
  /** The event's log checkpoint (commit order). */
  checkpoint: string;
  /**
   * 'parked': the bus refused it, the stream waits for an operator; 'held': a later event of that stream, waiting
   * behind it; 'retry' / 'skip': asked for, the running relay acts within `parkedPollMs`; 'published' / 'skipped':
   * done.
   */
  status: 'parked' | 'held' | 'retry' | 'skip' | 'published' | 'skipped';
  /** Why the bus refused it (parked rows). */
  error: string | null;
  errorCode: string | null;
  /** Its size as a bus message and the bus limit then, in bytes. */
  sizeBytes: number | null;
  limitBytes: number | null;
  /** Times the bus refused it: 1 when parked, one more per retry that failed. */
  attempts: number;
  parkedAt: Date;
  updatedAt: Date;
  skippedBy: string | null;
  skipReason: string | null;
  doneAt: Date | null;
}

interface Row {
  id: string;
  relay: string;
  event_id: string;
  stream: string;
  stream_position: string;
  event_type: string;
  checkpoint: string;
  status: RelayParkedEvent['status'];
  error: string | null;
  error_code: string | null;
  size_bytes: string | null;
  limit_bytes: string | null;
  attempts: number;
  parked_at: Date;
  updated_at: Date;
  skipped_by: string | null;
  skip_reason: string | null;
  done_at: Date | null;
}

const COLUMNS = `id::text as id, relay, event_id::text as event_id, stream, stream_position::text as stream_position,
  event_type, tx_order::text || ':' || global_position::text as checkpoint, status, error, error_code,
  size_bytes::text as size_bytes, limit_bytes::text as limit_bytes, attempts, parked_at, updated_at, skipped_by,
  skip_reason, done_at`;

function toParked(r: Row): RelayParkedEvent {
  return {
    id: r.id,
    relay: r.relay,
    eventId: r.event_id,
    stream: r.stream,
    streamPosition: Number(r.stream_position),
    eventType: r.event_type,
    checkpoint: r.checkpoint,
    status: r.status,
    error: r.error,
    errorCode: r.error_code,
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    limitBytes: r.limit_bytes === null ? null : Number(r.limit_bytes),
    attempts: r.attempts,
    parkedAt: r.parked_at,
    updatedAt: r.updated_at,
    skippedBy: r.skipped_by,
    skipReason: r.skip_reason,
    doneAt: r.done_at,
  };
}

export interface ListRelayParkedOptions {
  relay?: string;
  /** @defaultValue ['parked'] */
  status?: readonly RelayParkedEvent['status'][];
  /** @defaultValue 100 */
  limit?: number;
}

/**
 * The operator's view of relay parking: list, retry, skip. Works from any process with the store; the relay that
 * holds the lease acts on a retry or skip within its `parkedPollMs`.
 */
export interface RelayParking {
  /** In commit order. */
  list(options?: ListRelayParkedOptions): Promise<RelayParkedEvent[]>;
  /**
   * Publishes a parked event again (after the bus limit was raised), then the events held behind it, in order. If
   * the bus still refuses it, it stays parked with one more attempt counted.
   */
  retry(id: string): Promise<RelayParkedEvent>;
  /**
   * Gives up on a parked event: it is never published by this relay; the events held behind it are published in
   * order and its stream flows again. Recorded with who did it and why.
   */
  skip(id: string, options: { by: string; reason?: string }): Promise<RelayParkedEvent>;
}

const STATUSES = new Set(['parked', 'held', 'retry', 'skip', 'published', 'skipped']);

export function relayParking(store: EventStore): RelayParking {
  const q = quoteIdent(store.schema);
  const checkId = (id: unknown, wanted: string): string =>
    parkedIdOf(id, 'relay-parked event', (bad) => new RelayParkedNotFoundError(bad, wanted));
  return {
    async list(options = {}) {
      const status = options.status ?? ['parked'];
      if (!Array.isArray(status) || status.some((s: unknown) => typeof s !== 'string' || !STATUSES.has(s))) {
        throw new InvalidArgumentError(
          `status must be a list of ${[...STATUSES].join(', ')}, got ${JSON.stringify(status)}.`,
        );
      }
      const limit = options.limit ?? 100;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100_000)
        throw new InvalidArgumentError(
          `limit must be a whole number from 1 to 100000, got ${String(limit)}.`,
        );
      if (options.relay !== undefined && typeof options.relay !== 'string')
        throw new InvalidArgumentError(`relay must be a relay name, got ${JSON.stringify(options.relay)}.`);
      const rows = await store.executor.query<Row>(
        `select ${COLUMNS} from ${q}.relay_parked
          where status = any($1::text[]) and ($2::text is null or relay = $2)
          order by relay, tx_order, global_position limit $3`,
        [status, options.relay ?? null, limit],
      );
      return rows.map(toParked);
    },
    async retry(id) {
      checkId(id, 'parked');
      const [row] = await store.executor.query<Row>(
        `update ${q}.relay_parked set status = 'retry', updated_at = now()
          where id = $1 and status = 'parked' returning ${COLUMNS}`,
        [id],
      );
      if (!row) throw new RelayParkedNotFoundError(id, 'parked');
      return toParked(row);
    },
    async skip(id, options) {
      checkId(id, 'parked or retrying');
      const { by, reason } = skipNoteOf(options);
      const [row] = await store.executor.query<Row>(
        `update ${q}.relay_parked
            set status = 'skip', skipped_by = $2, skip_reason = $3, updated_at = now()
          where id = $1 and status in ('parked', 'retry') returning ${COLUMNS}`,
        [id, by, reason],
      );
      if (!row) throw new RelayParkedNotFoundError(id, 'parked or retrying');
      return toParked(row);
    },
  };
}
