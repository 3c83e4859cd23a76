/** Closing a stream: a final event and the mark that refuses later appends, in one transaction. */
import { InvalidArgumentError } from '../errors.js';
import type { NewEvent } from '../events/envelope.js';
import { checkStreamName } from '../events/names.js';
import { appendToStream, type AppendLimits, type AppendOptions, type AppendResult } from './append.js';
import type { Driver, SqlExecutor } from './drivers/driver.js';

/** The type of the final event `closeStream` appends when the caller gives none. */
export const STREAM_CLOSED_TYPE = 'eventlane.stream.closed';
/** The metadata key set to `true` on the final event of a closed stream (readers see the stream is closed). */
export const CLOSES_STREAM = 'closesStream';

export interface CloseStreamOptions {
  /**
   * The stream's final event (e.g. `AccountClosed.create(…)`), validated like any append.
   * @defaultValue `{ type: 'eventlane.stream.closed', data: {} }`
   */
  event?: NewEvent;
  /** As for append: what the stream must look like for the close to go through. @defaultValue 'any' */
  expectedVersion?: AppendOptions['expectedVersion'];
}

export interface CloseStreamResult extends AppendResult {
  /** When the stream was closed (the transaction's time). */
  closedAt: Date;
}

/**
 * Appends the final event (marked `metadata.closesStream: true`) and marks the stream closed, in one transaction:
 * either both happen or neither. Closing a closed stream is refused (StreamClosedError) like any append to it.
 */
export async function closeStream(
  db: Driver,
  q: string,
  stream: string,
  options: CloseStreamOptions | undefined,
  append: (ex: SqlExecutor, events: NewEvent[], options: AppendOptions) => Promise<AppendResult>,
  limits: AppendLimits,
): Promise<CloseStreamResult> {
  checkStreamName(stream);
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(
      `closeStream options must be an object { event?, expectedVersion? }, got ${typeof options}.`,
    );
  }
  const given = options?.event;
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw new InvalidArgumentError('closeStream: event must be an event object { type, data }, or left out.');
  }
  const appendOptions: AppendOptions = { expectedVersion: options?.expectedVersion ?? 'any' };
  return db.transaction(async (ex) => {
    let result: AppendResult;
    if (given === undefined) {
      // The tombstone is eventlane's own type: it bypasses the caller's contracts (a store that rejects
      // undeclared types still closes streams).
      const tombstone: NewEvent = { type: STREAM_CLOSED_TYPE, data: {}, metadata: { [CLOSES_STREAM]: true } };
      result = await appendToStream(ex, q, stream, [tombstone], appendOptions, limits);
    } else {
      const metadata: unknown = given.metadata;
      if (
        metadata !== undefined &&
        (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
      ) {
        throw new InvalidArgumentError('closeStream: event.metadata must be a plain object.');
      }
      result = await append(
        ex,
        [{ ...given, metadata: { ...given.metadata, [CLOSES_STREAM]: true } }],
        appendOptions,
      );
    }
    const [row] = await ex.query<{ closed_at: Date }>(
      `update ${q}.streams set closed_at = now() where stream = $1 returning closed_at`,
      [stream],
    );
    return { ...result, closedAt: row!.closed_at };
  });
}
