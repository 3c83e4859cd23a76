/** The options of an archive run, their defaults and checks, and how `before` becomes a checkpoint. */

import { resolve } from 'node:path';
import { ArchiveBoundError, describeValue, InvalidArgumentError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { compareCheckpoints, LOG_START, parseCheckpoint } from '../store/names.js';
import { readHead } from '../store/read.js';

export interface ArchiveOptions {
  /**
   * Archive the events recorded before this time, or the events at or before this checkpoint (`1234:56`, where a
   * reader that passed them stands). Must not be in the future, nor past the log's readable head.
   */
  before: Date | string;
  /** The archive directory, created when missing. A store archives to one directory; its manifest names the store. */
  to: string;
  /**
   * Only the events of closed streams, whole streams: a closed stream whose final event is at or before the bound
   * (as lowered by the holders) leaves the events table entirely; open streams, and closed streams whose final
   * event is after the bound, stay. Reads still return the whole log in commit order. @defaultValue false
   */
  closedStreamsOnly?: boolean;
  /**
   * A segment is closed once its NDJSON (before compression) reaches this many bytes. Smaller segments are opened
   * faster by read-through; larger ones make fewer files. From 1 KiB to 1 GiB. @defaultValue 16 MiB
   */
  segmentBytes?: number;
  /** Events deleted from the events table per transaction: small batches take short locks. @defaultValue 5000 */
  deleteBatch?: number;
  /**
   * When a consumer, relay, projection version, replay job or relay-parked event has not passed the bound yet:
   * `false` archives up to where all of them stand and names them in the result; `true` refuses (ArchiveHeldBackError)
   * without archiving anything. Both refuse when nothing at all could be archived. @defaultValue false
   */
  strict?: boolean;
  /** Called after each step (a segment exported, checked, or deleted from the table). */
  onProgress?: (progress: ArchiveProgress) => void;
}

export interface ArchiveProgress {
  step: 'exported' | 'verified' | 'deleted';
  segment: string;
  events: number;
}

export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_DELETE_BATCH = 5000;
const OPTION_KEYS = new Set([
  'before',
  'to',
  'closedStreamsOnly',
  'segmentBytes',
  'deleteBatch',
  'strict',
  'onProgress',
]);

export interface CheckedArchiveOptions {
  before: Date | string;
  dir: string;
  closedStreamsOnly: boolean;
  segmentBytes: number;
  deleteBatch: number;
  strict: boolean;
  onProgress: (progress: ArchiveProgress) => void;
}

function wholeNumber(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `${name} must be a whole number from ${min} to ${max}, got ${describeValue(value)}.`,
      { [name]: describeValue(value) },
    );
  }
  return value;
}

export function checkArchiveOptions(options: ArchiveOptions): CheckedArchiveOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`archive takes an options object, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvalidArgumentError(
        `Unknown option ${JSON.stringify(key)} for archive. Known options: ${[...OPTION_KEYS].join(', ')}.`,
        { option: key },
      );
    }
  }
  if (options.closedStreamsOnly !== undefined && typeof options.closedStreamsOnly !== 'boolean') {
    throw new InvalidArgumentError(
      `closedStreamsOnly must be true or false, got ${describeValue(options.closedStreamsOnly)}.`,
    );
  }
  const before = options.before;
  if (before instanceof Date) {
    if (Number.isNaN(before.getTime())) throw new ArchiveBoundError('before is an invalid Date.');
  } else if (typeof before === 'string') {
    parseCheckpoint(before);
  } else {
    throw new ArchiveBoundError(
      `before must be a Date or a checkpoint (<txOrder>:<globalPosition>), got ${describeValue(before)}.`,
    );
  }
  if (typeof options.to !== 'string' || options.to.trim() === '') {
    throw new InvalidArgumentError(`to must be the archive directory, got ${describeValue(options.to)}.`);
  }
  if (options.strict !== undefined && typeof options.strict !== 'boolean') {
    throw new InvalidArgumentError(`strict must be true or false, got ${describeValue(options.strict)}.`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidArgumentError('onProgress must be a function.');
  }
  return {
    before,
    dir: resolve(options.to),
    closedStreamsOnly: options.closedStreamsOnly ?? false,
    segmentBytes: wholeNumber(options.segmentBytes, 'segmentBytes', 1024, 1024 ** 3, DEFAULT_SEGMENT_BYTES),
    deleteBatch: wholeNumber(options.deleteBatch, 'deleteBatch', 1, 100_000, DEFAULT_DELETE_BATCH),
    strict: options.strict ?? false,
    onProgress: options.onProgress ?? (() => undefined),
  };
}

/**
 * `before` as the last checkpoint to archive (inclusive): for a time, the event just before the first one (in
 * commit order) recorded at or after it; never past the readable head, so nothing still in flight is archived.
 */
export async function resolveBound(ex: SqlExecutor, q: string, before: Date | string): Promise<string> {
  // The table's head, or the end of the archive when its last events left the table (a closed stream archived).
  const [archived] = await ex.query<{ last: string }>(
    `select last_tx::text || ':' || last_gp as last from ${q}.archive_segments
      order by last_tx desc, last_gp desc limit 1`,
  );
  const hot = (await readHead(ex, q)).checkpoint;
  const head = archived !== undefined && compareCheckpoints(archived.last, hot) > 0 ? archived.last : hot;
  if (typeof before === 'string') {
    if (compareCheckpoints(before, head) > 0) {
      throw new ArchiveBoundError(
        `before ${before} is past the log's readable head (${head}): give a checkpoint a reader has reached.`,
        { before, head },
      );
    }
    return before;
  }
  const [now] = await ex.query<{ ms: number }>(`select (extract(epoch from now()) * 1000)::float8 as ms`);
  if (before.getTime() > (now?.ms ?? Date.now())) {
    throw new ArchiveBoundError(
      `before ${before.toISOString()} is in the future: only events recorded before a past time can be archived.`,
      { before: before.toISOString() },
    );
  }
  const h = parseCheckpoint(head);
  const [young] = await ex.query<{ tx: string; gp: string }>(
    `select tx_order::text as tx, global_position::text as gp from ${q}.events
      where (tx_order, global_position) <= ($1::text::xid8, $2::bigint) and recorded_at >= $3
      order by tx_order, global_position limit 1`,
    [h.txOrder.toString(), h.globalPosition.toString(), before],
  );
  if (young === undefined) return head;
  const [prev] = await ex.query<{ c: string }>(
    `select tx_order::text || ':' || global_position as c from ${q}.events
      where (tx_order, global_position) < ($1::text::xid8, $2::bigint)
      order by tx_order desc, global_position desc limit 1`,
    [young.tx, young.gp],
  );
  return prev?.c ?? LOG_START;
}
