import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../store/event-store.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { quoteIdent, parseCheckpoint } from '../store/names.js';
import { EVENT_COLUMNS, toStoredEvent, type EventRow } from '../store/read.js';

/**
 * Reads committed events after `after` without the readers' snapshot rule. Only for a caller that holds the lock
 * every inline writer takes first: then no inline append is in flight, and everything it must see has committed.
 */
export async function readCommittedAfter(
  store: EventStore,
  ex: Pick<SqlExecutor, 'query'>,
  after: string,
  limit: number,
): Promise<StoredEvent[]> {
  const p = parseCheckpoint(after);
  const rows = await ex.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${quoteIdent(store.schema)}.events
      where (tx_order, global_position) > ($1::text::xid8, $2::bigint)
      order by tx_order, global_position limit $3`,
    [p.txOrder.toString(), p.globalPosition.toString(), limit],
  );
  // Personal fields decrypted (erased once forgotten: a rebuild then builds without them); a field that fails to
  // decrypt marks its event, and the handler call parks it.
  const events = await store.reveal(rows.map(toStoredEvent), 'mark');
  const contracts = store.contracts;
  return contracts === undefined ? events : events.map((e) => contracts.upcast(e));
}

/** Events after a checkpoint and the age of the oldest of them: the lag of a version at that checkpoint. */
export async function lagAfter(
  store: EventStore,
  checkpoint: string,
): Promise<{ events: number; seconds: number }> {
  const p = parseCheckpoint(checkpoint);
  const [row] = await store.executor.query<{ n: string; oldest: number | null }>(
    `select count(*)::text as n, extract(epoch from now() - min(recorded_at))::float8 as oldest
       from ${quoteIdent(store.schema)}.events
      where (tx_order, global_position) > ($1::text::xid8, $2::bigint)`,
    [p.txOrder.toString(), p.globalPosition.toString()],
  );
  return { events: Number(row?.n ?? 0), seconds: Math.max(0, row?.oldest ?? 0) };
}
