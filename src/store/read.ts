import { describeValue, InvalidArgumentError, StreamArchivedError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { checkStreamName } from '../events/names.js';
import type { SqlExecutor } from './drivers/driver.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from './event-row.js';
import {
  compareCheckpoints,
  formatCheckpoint,
  LOG_START,
  parseCheckpoint,
  type LogPosition,
} from './names.js';
import type { LogArchive } from './log-archive.js';
import { checkLogFilter, readFilteredLog, type LogFilter } from './read-filtered.js';

export interface ReadStreamOptions {
  /**
   * The first stream position to return (forward) or the last (backward).
   * @defaultValue 1 forward, the stream's end backward
   */
  from?: number;
  /** @defaultValue 'forward' */
  direction?: 'forward' | 'backward';
  /**
   * At most this many events, up to MAX_READ_STREAM_LIMIT (100,000). A stream longer than the limit comes back
   * cut short: read on with `from` set past the last event returned (or keep aggregates short with snapshots).
   * @defaultValue 10000
   */
  limit?: number;
  /** @internal As for ReadLogOptions: `'mark'` hands an undecryptable event to its consumer, which parks it. */
  unreadable?: 'throw' | 'mark';
  /**
   * When the stream's earlier events were archived (`eventlane archive`): `'error'` throws a StreamArchivedError
   * saying where they live; `'read'` reads them from the archive segments, then the events table.
   * @defaultValue 'error'
   */
  archived?: 'error' | 'read';
}

/** readStream's default `limit`: bounds the memory of one call; longer streams are read in pages with `from`. */
export const DEFAULT_READ_STREAM_LIMIT = 10_000;
/** The largest `limit` readStream takes. */
export const MAX_READ_STREAM_LIMIT = 100_000;
/**
 * The largest `limit` readLog takes (and iterateLog's `pageSize`). Above the relay's (1,000), the worker's (2,000)
 * and the projections' (5,000) defaults, whose size options are bounded by it; more per page saves no measurable
 * time and holds up to that many events (each up to `maxEventBytes`) in memory at once.
 */
export const MAX_READ_LOG_LIMIT = 10_000;

export interface ReadLogOptions extends LogFilter {
  /** A checkpoint from an earlier read or append; the start of the log when absent. */
  after?: string;
  /** At most this many events, up to MAX_READ_LOG_LIMIT (10,000). @defaultValue 1000 */
  limit?: number;
  /**
   * @internal What a personal field that fails decryption does: `'throw'` a PersonalDataUnreadableError (the
   * default), or `'mark'` the event for its consumer, which then parks it (workers, relays).
   */
  unreadable?: 'throw' | 'mark';
}

export interface ReadLogResult<E extends StoredEvent<string, unknown> = StoredEvent> {
  events: E[];
  /** Pass as `after` to continue; equal to the input when nothing new was readable. */
  checkpoint: string;
}

export interface LogHead {
  /** The checkpoint just after the last event a log reader can see now (commit order). */
  checkpoint: string;
  /** The highest global position a log reader can see now; 0 for an empty log. */
  globalPosition: bigint;
  /** When that event was recorded; null for an empty log. */
  recordedAt: Date | null;
}

export { EVENT_COLUMNS, toStoredEvent, type EventRow } from './event-row.js';

/**
 * The condition every read of the events table in commit order adds (`$1`, `$2`: the reader's position): true
 * unless the reader stands before the end of what an archive run deleted. Checked in the same statement, with the
 * same snapshot, as the rows it reads, so a reader behind the archive gets nothing from the table (and goes to the
 * archive) rather than the events after a deleted stretch.
 */
export function notArchivedSql(schemaQ: string): string {
  return `not exists (select 1 from ${schemaQ}.archive_state a
                       where (a.deleted_tx, a.deleted_gp) > ($1::text::xid8, $2::bigint))`;
}

function checkLimit(limit: unknown, name: string, max: number): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new InvalidArgumentError(
      `${name} must be a whole number from 1 to ${max}, got ${describeValue(limit)}. Read more in pages.`,
      { [name]: describeValue(limit) },
    );
  }
  return limit;
}

export async function readStream(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
  options: ReadStreamOptions = {},
  archive?: LogArchive,
): Promise<StoredEvent[]> {
  checkStreamName(stream);
  const direction = options.direction ?? 'forward';
  if (direction !== 'forward' && direction !== 'backward') {
    throw new InvalidArgumentError(
      `direction must be 'forward' or 'backward', got ${describeValue(direction)}.`,
    );
  }
  const archived = options.archived ?? 'error';
  if (archived !== 'error' && archived !== 'read') {
    throw new InvalidArgumentError(`archived must be 'error' or 'read', got ${describeValue(archived)}.`);
  }
  const limit = checkLimit(options.limit, 'limit', MAX_READ_STREAM_LIMIT) ?? DEFAULT_READ_STREAM_LIMIT;
  const from = options.from;
  if (from !== undefined && (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)) {
    throw new InvalidArgumentError(
      `from must be a stream position (a whole number ≥ 0), got ${describeValue(from)}.`,
    );
  }
  const forward = direction === 'forward';
  const bound = from ?? (forward ? 1 : Number.MAX_SAFE_INTEGER);
  const rows = await executor.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${schemaQ}.events
      where stream = $1 and stream_position ${forward ? '>=' : '<='} $2
      order by stream_position ${forward ? 'asc' : 'desc'}
      limit $3`,
    [stream, bound, limit],
    { prepare: true },
  );
  const events = rows.map(toStoredEvent);
  // Positions have no holes, so events missing before the first one read (forward) or after the last one read
  // (backward, a short page) can only have been archived: only then is the archive asked.
  const lowest = Math.max(1, forward ? bound : 1);
  const missing = forward
    ? events.length === 0 || events[0]!.streamPosition > lowest
    : events.length < limit && (events.length === 0 || events[events.length - 1]!.streamPosition > 1);
  if (!missing || archive === undefined) return events;
  const where = await archive.stream(executor, stream);
  if (where === null || where.archivedThrough < lowest) return events;
  if (forward && events.length === 0 && bound > where.archivedThrough) return events;
  if (archived === 'error') throw new StreamArchivedError(stream, where.archivedThrough, where.segments);
  if (forward) {
    const old = await archive.readStream(
      executor,
      stream,
      lowest,
      Math.min(where.archivedThrough, lowest + limit - 1),
    );
    const rest = events.filter((e) => e.streamPosition > where.archivedThrough);
    return [...old, ...rest].slice(0, limit);
  }
  const top = Math.min(bound, where.archivedThrough);
  const hot = events.filter((e) => e.streamPosition > where.archivedThrough);
  const old = await archive.readStream(executor, stream, Math.max(1, top - (limit - hot.length) + 1), top);
  return [...hot, ...old.reverse()].slice(0, limit);
}

/**
 * Reads the log in commit order after `after`. Only transactions older than the oldest one still running are
 * read, so an event whose transaction commits late is never skipped: it is simply read a little later.
 */
export async function readLog(
  executor: SqlExecutor,
  schemaQ: string,
  options: ReadLogOptions = {},
  archive?: LogArchive,
): Promise<ReadLogResult> {
  const after = options.after ?? LOG_START;
  const position = parseCheckpoint(after);
  const limit = checkLimit(options.limit, 'limit', MAX_READ_LOG_LIMIT) ?? 1000;
  const filter = checkLogFilter(options);
  const hot =
    filter !== undefined
      ? await readFilteredLog(executor, schemaQ, after, position, limit, filter)
      : await readHotLog(executor, schemaQ, after, position, limit);
  // Nothing from the table and no step forward: the reader may stand before what was archived.
  if (hot.events.length > 0 || hot.checkpoint !== after || archive === undefined) return hot;
  const range = {
    after,
    to: null,
    types: filter === undefined || filter.types.length === 0 ? null : filter.types,
    streamPrefix: filter === undefined || filter.streamPrefix === '' ? null : filter.streamPrefix,
  };
  const page = await archive.read(executor, range, limit);
  if (page === null) return hot;
  if (page.events.length > 0) return page;
  // A filtered read found nothing more in the archive: go on in the table after the archive's end.
  return readLog(executor, schemaQ, { ...options, after: page.checkpoint }, archive);
}

async function readHotLog(
  executor: SqlExecutor,
  schemaQ: string,
  after: string,
  position: LogPosition,
  limit: number,
): Promise<ReadLogResult> {
  const rows = await executor.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${schemaQ}.events
      where (tx_order, global_position) > ($1::text::xid8, $2::bigint)
        and tx_order < (select pg_snapshot_xmin(pg_current_snapshot()))
        and ${notArchivedSql(schemaQ)}
      order by tx_order, global_position
      limit $3`,
    [position.txOrder.toString(), position.globalPosition.toString(), limit],
  );
  const events = rows.map(toStoredEvent);
  const last = events[events.length - 1];
  return { events, checkpoint: last ? last.checkpoint : after };
}

export interface IterateLogOptions extends LogFilter {
  after?: string;
  /** Events fetched per query (up to 10,000); memory stays bounded by one page. @defaultValue 1000 */
  pageSize?: number;
}

/**
 * Yields every readable event after `after` in commit order, one page in memory at a time, then ends.
 * `finish` (decryption of personal fields, then the contracts' upcast) maps each page here rather than each event
 * in a wrapping generator, which would cost a second promise per event.
 */
export async function* iterateLog(
  executor: SqlExecutor,
  schemaQ: string,
  options: IterateLogOptions = {},
  finish?: (events: StoredEvent[]) => Promise<StoredEvent[]>,
  archive?: LogArchive,
): AsyncGenerator<StoredEvent, void, undefined> {
  const pageSize = checkLimit(options.pageSize, 'pageSize', MAX_READ_LOG_LIMIT) ?? 1000;
  let after = options.after ?? LOG_START;
  parseCheckpoint(after);
  checkLogFilter(options);
  const filter: LogFilter = { types: options.types, streamPrefix: options.streamPrefix };
  // The end is the last event committed when the iteration starts, whether a log reader can see it yet or not.
  // A page comes back short while an older transaction anywhere on the server is still open; stopping there
  // would end the iteration early, so the iterator waits for those events instead (a long transaction delays
  // it, never truncates it).
  const [end] = await executor.query<{ tx_order_text: string; position_text: string }>(
    `select tx_order::text as tx_order_text, global_position::text as position_text from ${schemaQ}.events
      order by tx_order desc, global_position desc limit 1`,
  );
  // Every event may have been archived: the archive's end is then the end.
  const archived = archive === undefined ? null : await archive.end(executor);
  if (!end && archived === null) return;
  const hotEnd = end ? formatCheckpoint(end.tx_order_text, end.position_text) : LOG_START;
  const target = archived !== null && compareCheckpoints(archived, hotEnd) > 0 ? archived : hotEnd;
  let pause = 1;
  while (compareCheckpoints(after, target) < 0) {
    const page = await readLog(executor, schemaQ, { after, limit: pageSize, ...filter }, archive);
    const events = finish === undefined ? page.events : await finish(page.events);
    for (const event of events) yield event;
    after = page.checkpoint;
    if (page.events.length < pageSize && compareCheckpoints(after, target) < 0) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 50);
    } else {
      pause = 1;
    }
  }
}

export async function readHead(executor: SqlExecutor, schemaQ: string): Promise<LogHead> {
  const [row] = await executor.query<{ tx_order_text: string; global_position: string; recorded_at: Date }>(
    `select tx_order::text as tx_order_text, global_position, recorded_at from ${schemaQ}.events
      where tx_order < (select pg_snapshot_xmin(pg_current_snapshot()))
      order by tx_order desc, global_position desc
      limit 1`,
  );
  if (!row) return { checkpoint: LOG_START, globalPosition: 0n, recordedAt: null };
  return {
    checkpoint: formatCheckpoint(row.tx_order_text, BigInt(row.global_position)),
    globalPosition: BigInt(row.global_position),
    recordedAt: row.recorded_at,
  };
}

export async function readStreamVersion(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
): Promise<number> {
  checkStreamName(stream);
  const [row] = await executor.query<{ version: string }>(
    `select version from ${schemaQ}.streams where stream = $1`,
    [stream],
    { prepare: true },
  );
  return row ? Number(row.version) : 0;
}
