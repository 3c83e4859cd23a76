import type { Delivery } from '../bus/types.js';
import type { FailureRow } from './sql.js';

/** A stream that waits: behind a failing event ('retrying', 'parked') or to be read from the store ('catchup'). */
export interface Blocked {
  id: string | null;
  position: number;
  status: 'retrying' | 'parked' | 'catchup';
  /** Bus mode: a delivery acknowledged by a full lane, to be set aside for the next owner if the lane stops first. */
  acked?: Delivery;
  dueAt: number;
  changedAt: number;
}

/**
 * Brings a lane's waiting streams in line with the failure rows of the worker's poll (operator retries and skips,
 * failures recorded by earlier owners) without undoing what the lane changed after the poll read.
 */
export function syncBlockedStreams(
  blocked: Map<string, Blocked>,
  rows: FailureRow[],
  startedAt: number,
): void {
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.stream);
    const entry = blocked.get(row.stream);
    if (entry && entry.changedAt > startedAt) continue; // changed by this lane after the poll read
    const status = row.status === 'retrying' || row.status === 'parked' ? row.status : 'catchup';
    if (entry && entry.id === row.id && entry.status === status) continue;
    blocked.set(row.stream, {
      id: row.id,
      position: Number(row.stream_position),
      status,
      dueAt: row.next_attempt_at ? row.next_attempt_at.getTime() : Date.now(),
      changedAt: startedAt,
    });
  }
  for (const [stream, entry] of blocked) {
    if (entry.id !== null && !seen.has(stream) && entry.changedAt <= startedAt) {
      // Resolved or skipped by an operator: read the rest of the stream from the store.
      blocked.set(stream, {
        id: null,
        position: entry.position,
        status: 'catchup',
        dueAt: 0,
        changedAt: startedAt,
      });
    }
  }
}
