/**
 * The port through which the store's reads reach archived history (implemented in src/retention/read-through.ts).
 * Reads of the events table hand over to it when they start before the first event still in the table.
 */

import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from './drivers/driver.js';

/**
 * The connection the archive's bookkeeping is read on: the caller's, so that a read inside a transaction never
 * waits for a second connection (PGlite and a single `pg` client have one; a pool may be used up by transactions).
 */
export type ArchiveExecutor = Pick<SqlExecutor, 'query'>;

/** A range of the log in commit order: after `after`, up to and including `to` (null: no end), filtered. */
export interface ArchiveRange {
  after: string;
  to: string | null;
  /** Only these event types; null for every type. */
  types: readonly string[] | null;
  /** Only streams whose name starts with this; null for every stream. */
  streamPrefix: string | null;
}

export interface ArchivePage {
  events: StoredEvent[];
  /** Where the read stopped in the archive: the last event returned, or the archive's end when it was read to it. */
  checkpoint: string;
}

export interface ArchivedStream {
  /** The last stream position in the archive: positions 1 … archivedThrough are read from segments. */
  archivedThrough: number;
  /** The segment files holding them. */
  segments: string[];
}

export interface LogArchive {
  /**
   * Up to `limit` archived events of the range, or null when no archived event lies after `range.after` (the read
   * belongs to the events table).
   */
  read(ex: ArchiveExecutor, range: ArchiveRange, limit: number): Promise<ArchivePage | null>;
  /** The archived events of the range that are no longer in the events table, by type. */
  count(ex: ArchiveExecutor, range: ArchiveRange): Promise<Map<string, number>>;
  /** Where a stream's archived events are, or null when none of its events was archived. */
  stream(ex: ArchiveExecutor, stream: string): Promise<ArchivedStream | null>;
  /** The stream's archived events at positions `from` … `to`, in position order. */
  readStream(ex: ArchiveExecutor, stream: string, from: number, to: number): Promise<StoredEvent[]>;
  /** The checkpoint of the last archived event, or null when nothing was archived. */
  end(ex: ArchiveExecutor): Promise<string | null>;
}
