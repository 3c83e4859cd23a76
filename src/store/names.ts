import { describeValue, InvalidArgumentError, InvalidCheckpointError } from '../errors.js';

/** The PostgreSQL schema eventlane uses unless told otherwise. */
export const DEFAULT_SCHEMA = 'eventlane';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new InvalidArgumentError(
      `schema ${describeValue(schema)} is not a usable PostgreSQL schema name: use 1–63 lower-case letters, ` +
        'digits and underscores, starting with a letter or underscore (e.g. "eventlane").',
      { schema },
    );
  }
  return schema;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Where a log reader stands: after the event with this (tx_order, global_position). tx_order is the appending
 * transaction's id, raised where needed to keep each stream in position order (see migration 0001).
 */
export interface LogPosition {
  txOrder: bigint;
  globalPosition: bigint;
}

/** The checkpoint of the start of the log: nothing read yet. */
export const LOG_START = '0:0';

const CHECKPOINT = /^(\d{1,20}):(\d{1,19})$/;
/** tx_order is an xid8 (unsigned 64 bits), global_position a bigint (signed 64 bits). */
const MAX_TX_ORDER = 2n ** 64n - 1n;
const MAX_GLOBAL_POSITION = 2n ** 63n - 1n;

export function parseCheckpoint(value: unknown): LogPosition {
  const match = typeof value === 'string' ? CHECKPOINT.exec(value) : null;
  if (!match) throw new InvalidCheckpointError(value);
  const txOrder = BigInt(match[1]!);
  const globalPosition = BigInt(match[2]!);
  // Refused here rather than by PostgreSQL (SQLSTATE 22003): no checkpoint eventlane hands out is this large.
  if (txOrder > MAX_TX_ORDER || globalPosition > MAX_GLOBAL_POSITION) {
    throw new InvalidCheckpointError(value, ' (a number in it is out of range)');
  }
  return { txOrder, globalPosition };
}

export function formatCheckpoint(txOrder: bigint | string, globalPosition: bigint | string): string {
  return `${String(txOrder)}:${String(globalPosition)}`;
}

/**
 * Compares two checkpoints in commit order: negative when `a` is before `b`, 0 when equal, positive after.
 */
export function compareCheckpoints(a: string, b: string): number {
  const pa = parseCheckpoint(a);
  const pb = parseCheckpoint(b);
  if (pa.txOrder !== pb.txOrder) return pa.txOrder < pb.txOrder ? -1 : 1;
  if (pa.globalPosition !== pb.globalPosition) return pa.globalPosition < pb.globalPosition ? -1 : 1;
  return 0;
}

/** Compares two log positions in commit order: negative when `a` is before `b`, 0 when equal, positive after. */
export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.txOrder !== b.txOrder) return a.txOrder < b.txOrder ? -1 : 1;
  if (a.globalPosition !== b.globalPosition) return a.globalPosition < b.globalPosition ? -1 : 1;
  return 0;
}
