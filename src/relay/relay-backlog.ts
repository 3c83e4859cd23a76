import { TimeoutError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { LOG_START } from '../store/names.js';
import { readRelayCheckpoint } from './lease.js';

/**
 * Committed events after a relay's checkpoint (`current` when this process leads, else the stored one) and the
 * age of the oldest of them.
 */
export async function relayBacklog(
  db: SqlExecutor,
  q: string,
  name: string,
  current: string | undefined,
): Promise<{ events: number; oldestAgeMs: number; checkpoint: string }> {
  const checkpoint = current ?? (await readRelayCheckpoint(db, q, name)) ?? LOG_START;
  const [tx, gp] = checkpoint.split(':');
  // Counting is capped so that stats() stays cheap on a huge backlog; the age tells how bad it is beyond that.
  const [row] = await db.query<{ events: string; oldest_ms: string | null }>(
    `select (select count(*) from (select 1 from ${q}.events
              where (tx_order, global_position) > ($1::text::xid8, $2::bigint) limit 10000000) b) as events,
            (select extract(epoch from (now() - recorded_at)) * 1000 from ${q}.events
              where (tx_order, global_position) > ($1::text::xid8, $2::bigint)
              order by tx_order, global_position limit 1) as oldest_ms`,
    [tx, gp],
  );
  return {
    events: Number(row?.events ?? 0),
    oldestAgeMs: row?.oldest_ms == null ? 0 : Math.max(0, Math.round(Number(row.oldest_ms))),
    checkpoint,
  };
}

/**
 * Resolves when no committed event is left after the relay's stored checkpoint. Not "the checkpoint reached
 * head()": head() lags behind commits while any transaction of the cluster is open (invariant 2), so it would
 * resolve early. Parked and held events count as passed: they wait in relay_parked, not in the log's backlog.
 */
export async function waitCaughtUp(
  db: SqlExecutor,
  q: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = (await readRelayCheckpoint(db, q, name)) ?? LOG_START;
    const [tx, gp] = stored.split(':');
    const rest = await db.query(
      `select 1 as found from ${q}.events where (tx_order, global_position) > ($1::text::xid8, $2::bigint) limit 1`,
      [tx, gp],
    );
    if (rest.length === 0) return;
    if (Date.now() > deadline) {
      throw new TimeoutError(
        `Relay ${name} did not catch up within ${timeoutMs} ms (it is at ${stored}). ` +
          'Check relay.stats() for errors and whether a relay of this name is running.',
        { relay: name, checkpoint: stored, timeoutMs },
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
