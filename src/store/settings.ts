import { checkPartitionCount } from '../bus/partition.js';
import { InvalidArgumentError } from '../errors.js';
import type { EventStore } from './event-store.js';
import { quoteIdent } from './names.js';

/**
 * The store's partition count P, recorded in its `settings` table (16 unless changed before first use), so every
 * relay and consumer process computes `partitionOf(stream, P)` alike.
 */
export async function getPartitionCount(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ value: unknown }>(
    `select value from ${quoteIdent(store.schema)}.settings where key = 'partitions'`,
  );
  return checkPartitionCount(row?.value);
}

/**
 * Chooses the store's partition count. Allowed only while the log is empty and no relay has run: afterwards the
 * same P is accepted (idempotent) and any other value is refused, because it would move entities between
 * partitions and break per-entity order downstream.
 */
export async function setPartitionCount(store: EventStore, partitions: number): Promise<number> {
  const wanted = checkPartitionCount(partitions);
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{ value: unknown }>(
    `update ${q}.settings set value = to_jsonb($1::integer), updated_at = now()
      where key = 'partitions'
        and (value = to_jsonb($1::integer)
             or (not exists (select 1 from ${q}.events) and not exists (select 1 from ${q}.relay_checkpoints)))
      returning value`,
    [wanted],
  );
  if (rows.length === 0) {
    const current = await getPartitionCount(store);
    throw new InvalidArgumentError(
      `The store in schema ${store.schema} already uses ${current} partitions and has events or relay checkpoints; ` +
        `it cannot switch to ${wanted}. Keep ${current}, or start a new store (schema) with ${wanted}.`,
      { partitions: wanted, current },
    );
  }
  return wanted;
}
