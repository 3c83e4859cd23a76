/**
 * Kysely adapter: appends inside the caller's Kysely transaction, so the caller's writes and the events commit or
 * roll back together. Needs `kysely` (an optional peer dependency) with a PostgreSQL dialect.
 */
import { CompiledQuery, type QueryResult } from 'kysely';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore, EventStoreTransaction } from '../store/event-store.js';
import { checkOrmTransaction } from './placeholders.js';

/** What eventlane uses of a Kysely transaction: `executeQuery` of a compiled query. */
export interface KyselyTransaction {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/**
 * Works inside `trx`, a transaction the caller opened with Kysely (`db.transaction().execute(async (trx) => …)`):
 * appends commit or roll back with it, and wake relays and workers when it commits.
 *
 * @example
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto('orders').values({ id: 42, total: 10 }).execute();
 *   await enlistKysely(store, trx).append('order-42', [OrderPlaced.create({ total: 10 })]);
 * });
 */
export function enlistKysely<E extends StoredEvent<string, unknown>>(
  store: EventStore<E>,
  trx: KyselyTransaction,
): EventStoreTransaction<E> {
  checkOrmTransaction(
    trx,
    'executeQuery',
    'enlistKysely',
    'a Kysely transaction (the `trx` of db.transaction())',
  );
  return store.enlist({
    query: (text: string, params?: unknown[]) =>
      trx.executeQuery(CompiledQuery.raw(text, params)) as Promise<{ rows: unknown[] }>,
  });
}
