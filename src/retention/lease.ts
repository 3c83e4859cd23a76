/**
 * One archive run at a time per store: a lease on the archive_state row, renewed while the run works. A run whose
 * process died (kill -9, a crash) on this host is taken over at once; one on another host when its lease expires.
 */

import { hostname } from 'node:os';
import { ArchiveTargetError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';

/** How long a lease lasts without renewal. */
export const ARCHIVE_LEASE_MS = 30_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ArchiveLease {
  owner: string;
  renew(): Promise<void>;
  release(): Promise<void>;
}

export async function takeArchiveLease(ex: SqlExecutor, q: string): Promise<ArchiveLease> {
  const host = hostname();
  const owner = `${host}:${process.pid}:${Date.now()}`;
  const [current] = await ex.query<{ run_owner: string | null; expired: boolean }>(
    `select run_owner, (run_until is null or run_until < now()) as expired from ${q}.archive_state`,
  );
  let takeOver = current?.run_owner ?? null;
  if (takeOver !== null && !current!.expired) {
    const [h, pid] = takeOver.split(':');
    if (h !== host || alive(Number(pid))) {
      throw new ArchiveTargetError(
        `Another archive run (${takeOver}) is in progress on this store; wait for it to finish.`,
        { owner: takeOver },
      );
    }
  } else {
    takeOver = null;
  }
  const rows = await ex.query(
    `update ${q}.archive_state set run_owner = $1, run_until = now() + $2::float8 * interval '1 millisecond'
      where run_owner is null or run_until < now() or run_owner = $3 returning 1`,
    [owner, ARCHIVE_LEASE_MS, takeOver ?? ''],
  );
  if (rows.length === 0) {
    throw new ArchiveTargetError(
      'Another archive run started on this store just now; wait for it to finish.',
    );
  }
  return {
    owner,
    async renew() {
      const renewed = await ex.query(
        `update ${q}.archive_state set run_until = now() + $2::float8 * interval '1 millisecond'
          where run_owner = $1 returning 1`,
        [owner, ARCHIVE_LEASE_MS],
      );
      if (renewed.length === 0) {
        throw new ArchiveTargetError('This archive run lost its lease to another run; it stopped.', {
          owner,
        });
      }
    },
    async release() {
      await ex.query(
        `update ${q}.archive_state set run_owner = null, run_until = null where run_owner = $1`,
        [owner],
      );
    },
  };
}
