/**
 * How a store wakes relays and workers after a commit that appended: at once in its own process (commit
 * listeners), and in other processes by a NOTIFY on NOTIFY_CHANNEL carrying the schema name.
 */

import type { Driver, SqlExecutor } from './drivers/driver.js';

export const NOTIFY_CHANNEL = 'eventlane_log';
/** Quiet window after each commit NOTIFY; commits inside it are announced together at its end. */
const NOTIFY_GAP_MS = 2;

export class CommitAnnouncer {
  readonly #db: Driver;
  readonly #schema: string;
  readonly #closed: () => boolean;
  readonly #listeners = new Set<() => void>();
  #notifying = false;
  #notifyAgain = false;

  constructor(db: Driver, schema: string, closed: () => boolean) {
    this.#db = db;
    this.#schema = schema;
    this.#closed = closed;
  }

  /** Calls `onCommit` after each commit that appended, in this process or (by NOTIFY) in another. */
  async listen(onCommit: () => void): Promise<() => Promise<void>> {
    const schema = this.#schema;
    this.#listeners.add(onCommit);
    try {
      const unlisten = await this.#db.listen(NOTIFY_CHANNEL, (payload) => {
        if (payload === schema) onCommit();
      });
      return async () => {
        this.#listeners.delete(onCommit);
        await unlisten();
      };
    } catch (error) {
      this.#listeners.delete(onCommit);
      throw error;
    }
  }

  /**
   * After a commit that appended: at once in this process, and in others by a NOTIFY sent as a statement of its own
   * after the commit, at most one per NOTIFY_GAP_MS (a burst of commits costs one or two). Not a trigger on the
   * events table: a transaction that notifies takes a cluster-wide lock at commit, which serialized the appends'
   * WAL flushes and cut 8-writer single-event appends from ≈2,000/s to ≈480/s on this machine.
   */
  announce(): void {
    for (const listener of this.#listeners) listener();
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    this.#notifying = true;
    // After each NOTIFY, a short quiet window: commits inside it share one NOTIFY at its end. The first commit of
    // a burst is announced at once (latency); the rest at most every NOTIFY_GAP_MS. One NOTIFY per single-event
    // append cost about a fifth of append throughput on this machine.
    const settle = (): void => {
      setTimeout(() => {
        if (this.#notifyAgain && !this.#closed()) send();
        else this.#notifying = false;
      }, NOTIFY_GAP_MS).unref();
    };
    const send = (): void => {
      this.#notifyAgain = false;
      this.#db.query('select pg_notify($1, $2)', [NOTIFY_CHANNEL, this.#schema]).then(settle, settle);
    };
    send();
  }

  /**
   * Appends in a caller's own transaction (`enlist`) cannot be announced after a commit the store does not see:
   * they send their NOTIFY inside that transaction instead, which PostgreSQL delivers at commit and drops on rollback.
   */
  notifyWithin(executor: SqlExecutor): Promise<unknown> {
    return executor.query('select 1 as notified from (select pg_notify($1, $2)) n', [
      NOTIFY_CHANNEL,
      this.#schema,
    ]);
  }
}
