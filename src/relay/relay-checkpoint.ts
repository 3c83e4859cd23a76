import type { SqlExecutor } from '../store/drivers/driver.js';
import { saveCheckpoint, type Lease } from './lease.js';

/**
 * The relay's checkpoint writes. They run beside the publishing, coalesced: while one write is in flight, later
 * acknowledgements only move the value the next write will store. A commit costs a WAL flush (milliseconds on a
 * busy disk); waiting for it after every batch capped the embedded relay at a third of its speed.
 */
export class CheckpointWriter {
  /** Acknowledged by the broker, not written yet. */
  acked: { checkpoint: string; count: number } | undefined;
  writing: Promise<void> | undefined;
  /** A write found the fencing token moved on: another relay took over. */
  leaseLost = false;
  writeError: unknown;
  /** The newest checkpoint the broker acknowledged (written or not): where to resume after an error. */
  latestAcked: string | undefined;

  constructor(
    readonly db: SqlExecutor,
    readonly q: string,
    readonly leaseMs: number,
    /** Told of each stored checkpoint. */
    readonly onSaved: (lease: Lease, checkpoint: string) => void,
  ) {}

  /** Forgets what belonged to a previous lease. */
  reset(): void {
    this.acked = undefined;
    this.latestAcked = undefined;
    this.leaseLost = false;
    this.writeError = undefined;
  }

  /** The broker acknowledged everything up to `checkpoint` (`count` events published). */
  ack(lease: Lease, checkpoint: string, count: number): void {
    this.acked = { checkpoint, count: count + (this.acked?.count ?? 0) };
    this.latestAcked = checkpoint;
    this.write(lease);
  }

  write(lease: Lease): void {
    if (this.writing || !this.acked || this.leaseLost) return;
    const batch = this.acked;
    this.acked = undefined;
    this.writing = saveCheckpoint(this.db, this.q, lease, this.leaseMs, batch.checkpoint, batch.count).then(
      (saved) => {
        this.writing = undefined;
        if (!saved) this.leaseLost = true;
        else this.onSaved(lease, batch.checkpoint);
        this.write(lease);
      },
      (error: unknown) => {
        this.writing = undefined;
        this.writeError = error;
        // Keep what was acknowledged: a later write stores it (the newest checkpoint wins, counts add up).
        const acked = this.acked;
        this.acked = acked ? { checkpoint: acked.checkpoint, count: acked.count + batch.count } : batch;
      },
    );
  }

  /** Throws the error of a failed write once (the acknowledged checkpoint is kept and written again). */
  throwWriteError(): void {
    if (this.writeError === undefined) return;
    const error = this.writeError;
    this.writeError = undefined;
    throw error instanceof Error ? error : new Error('checkpoint write failed', { cause: error });
  }

  /** On a graceful stop: stores what was acknowledged, a few tries at most. */
  async flush(lease: Lease): Promise<void> {
    for (let i = 0; i < 3 && (this.writing || this.acked) && !this.leaseLost; i++) {
      await this.writing;
      this.write(lease);
      await this.writing;
    }
  }
}
