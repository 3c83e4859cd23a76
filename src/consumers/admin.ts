import { describeValue, InvalidArgumentError, ParkedEventNotFoundError } from '../errors.js';
import { parkedIdOf, skipNoteOf } from '../events/operator-input.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';

/** A failing or parked event, as an operator sees it. */
export interface ParkedEvent {
  id: string;
  consumer: string;
  partition: number;
  stream: string;
  streamPosition: number;
  eventId: string;
  eventType: string;
  status: 'retrying' | 'parked' | 'resolved' | 'skipped';
  error: string;
  errorCode: string | null;
  stack: string | null;
  attempts: number;
  firstFailedAt: Date;
  lastFailedAt: Date;
  nextAttemptAt: Date | null;
  parkedAt: Date | null;
  resolvedAt: Date | null;
  /** When the rest of the stream was applied after a resolve or skip; null while it is being caught up. */
  caughtUpAt: Date | null;
  skippedBy: string | null;
  skippedAt: Date | null;
  skipReason: string | null;
}

interface ParkedRow {
  id: string;
  consumer: string;
  partition: number;
  stream: string;
  stream_position: string;
  event_id: string;
  event_type: string;
  status: ParkedEvent['status'];
  error: string;
  error_code: string | null;
  stack: string | null;
  attempts: number;
  first_failed_at: Date;
  last_failed_at: Date;
  next_attempt_at: Date | null;
  parked_at: Date | null;
  resolved_at: Date | null;
  caught_up_at: Date | null;
  skipped_by: string | null;
  skipped_at: Date | null;
  skip_reason: string | null;
}

function toParked(r: ParkedRow): ParkedEvent {
  return {
    id: String(r.id),
    consumer: r.consumer,
    partition: r.partition,
    stream: r.stream,
    streamPosition: Number(r.stream_position),
    eventId: r.event_id,
    eventType: r.event_type,
    status: r.status,
    error: r.error,
    errorCode: r.error_code,
    stack: r.stack,
    attempts: r.attempts,
    firstFailedAt: r.first_failed_at,
    lastFailedAt: r.last_failed_at,
    nextAttemptAt: r.next_attempt_at,
    parkedAt: r.parked_at,
    resolvedAt: r.resolved_at,
    caughtUpAt: r.caught_up_at,
    skippedBy: r.skipped_by,
    skippedAt: r.skipped_at,
    skipReason: r.skip_reason,
  };
}

export interface ListParkedOptions {
  consumer?: string;
  /** @defaultValue ['parked'] */
  status?: readonly ParkedEvent['status'][];
  /** At most 10,000. @defaultValue 100 */
  limit?: number;
}

/**
 * The operator's view of failing events: list, retry, skip. It works from any process with the store — no worker
 * needed; running workers pick changes up within `parkedPollMs`.
 */
export interface ParkedEvents {
  list(options?: ListParkedOptions): Promise<ParkedEvent[]>;
  /** One failing event by id, whatever its status. */
  get(id: string): Promise<ParkedEvent>;
  /** Sends a parked event back to its worker for immediate attempts (the attempt count starts again). */
  retry(id: string): Promise<ParkedEvent>;
  /**
   * Gives up on a parked event: its consumer's order guard moves past it, the rest of its stream goes on, and the
   * skip is recorded with who did it and why.
   */
  skip(id: string, options: { by: string; reason?: string }): Promise<ParkedEvent>;
}

const STATUSES = new Set(['retrying', 'parked', 'resolved', 'skipped']);
const COLUMNS = '*';

export function parkedEvents(store: EventStore): ParkedEvents {
  const q = quoteIdent(store.schema);
  const checkId = (id: unknown, wanted: string): string =>
    parkedIdOf(id, 'parked event', (bad) => new ParkedEventNotFoundError(bad, wanted));
  return {
    async list(options = {}) {
      const status = options.status ?? ['parked'];
      if (!Array.isArray(status) || status.some((s: unknown) => typeof s !== 'string' || !STATUSES.has(s))) {
        throw new InvalidArgumentError(
          `status must be a list of ${[...STATUSES].join(', ')}, got ${describeValue(status)}.`,
        );
      }
      const limit = options.limit ?? 100;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
        throw new InvalidArgumentError(
          `limit must be a whole number from 1 to 10000, got ${describeValue(limit)}.`,
        );
      const rows = await store.executor.query<ParkedRow>(
        `select ${COLUMNS} from ${q}.parked_events
          where status = any($1::text[]) and ($2::text is null or consumer = $2)
          order by id limit $3`,
        [status, options.consumer ?? null, limit],
      );
      return rows.map(toParked);
    },
    async get(id) {
      checkId(id, 'failing or parked');
      const [row] = await store.executor.query<ParkedRow>(
        `select ${COLUMNS} from ${q}.parked_events where id = $1`,
        [id],
      );
      if (!row) throw new ParkedEventNotFoundError(id, 'failing or parked');
      return toParked(row);
    },
    async retry(id) {
      checkId(id, 'parked');
      const [row] = await store.executor.query<ParkedRow>(
        `update ${q}.parked_events set status = 'retrying', attempts = 0, next_attempt_at = now(), parked_at = null
          where id = $1 and status = 'parked' returning ${COLUMNS}`,
        [id],
      );
      if (!row) throw new ParkedEventNotFoundError(id, 'parked');
      return toParked(row);
    },
    async skip(id, options) {
      checkId(id, 'parked or retrying');
      const { by, reason } = skipNoteOf(options);
      return store.transaction(async (tx) => {
        const [row] = await tx.query<ParkedRow>(
          `update ${q}.parked_events
              set status = 'skipped', skipped_by = $2, skipped_at = now(), skip_reason = $3, next_attempt_at = null
            where id = $1 and status in ('parked', 'retrying') returning ${COLUMNS}`,
          [id, by, reason],
        );
        if (!row) throw new ParkedEventNotFoundError(id, 'parked or retrying');
        // The order guard moves past the skipped event in the same transaction, so the stream resumes after it.
        await tx.query(
          `insert into ${q}.consumer_streams as c (consumer, stream, position) values ($1, $2, $3)
           on conflict (consumer, stream) do update set position = excluded.position, updated_at = now()
             where c.position < excluded.position`,
          [row.consumer, row.stream, row.stream_position],
        );
        return toParked(row);
      });
    },
  };
}
