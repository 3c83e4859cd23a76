/** Closed streams as the archive and operators list them (streams are closed with `store.closeStream`). */
import { describeValue, InvalidArgumentError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { checkStreamName } from '../events/names.js';

export { CLOSES_STREAM, STREAM_CLOSED_TYPE } from '../store/close-stream.js';

export interface ClosedStream {
  stream: string;
  /** The stream's version: the position of its final event. */
  version: number;
  closedAt: Date;
}

export interface ListClosedStreamsOptions {
  /** Only streams closed before this time (e.g. what an archive run may take). */
  closedBefore?: Date;
  /** Only streams whose name starts with this text. */
  streamPrefix?: string;
  /** Continue after this stream (the last one of the previous page), in stream-name order. */
  after?: string;
  /** At most this many, 1 to 10,000. @defaultValue 1000 */
  limit?: number;
}

/** Closed streams in name order, a page at a time (`after` = the last stream of the previous page). */
export async function listClosedStreams(
  store: EventStore,
  options: ListClosedStreamsOptions = {},
): Promise<ClosedStream[]> {
  const limit = options.limit ?? 1000;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to 10000, got ${describeValue(limit)}.`,
    );
  }
  const before = options.closedBefore;
  if (before !== undefined && (!(before instanceof Date) || Number.isNaN(before.getTime()))) {
    throw new InvalidArgumentError(`closedBefore must be a valid Date, got ${describeValue(before)}.`);
  }
  if (options.after !== undefined) checkStreamName(options.after);
  const prefix = options.streamPrefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '')) {
    throw new InvalidArgumentError(`streamPrefix must be a non-empty string, got ${describeValue(prefix)}.`);
  }
  const rows = await store.executor.query<{ stream: string; version: string; closed_at: Date }>(
    `select stream, version::text as version, closed_at from ${quoteIdent(store.schema)}.streams
      where closed_at is not null
        and ($1::timestamptz is null or closed_at < $1)
        and ($2::text is null or left(stream, length($2)) = $2)
        and ($3::text is null or stream > $3)
      order by stream limit $4`,
    [before ?? null, prefix ?? null, options.after ?? null, limit],
  );
  return rows.map((r) => ({ stream: r.stream, version: Number(r.version), closedAt: new Date(r.closed_at) }));
}

/** When the stream was closed, or null while it is open (or does not exist). */
export async function streamClosedAt(store: EventStore, stream: string): Promise<Date | null> {
  checkStreamName(stream);
  const [row] = await store.executor.query<{ closed_at: Date | null }>(
    `select closed_at from ${quoteIdent(store.schema)}.streams where stream = $1`,
    [stream],
  );
  return row?.closed_at == null ? null : new Date(row.closed_at);
}
