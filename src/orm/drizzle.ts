/**
 * Drizzle adapter: appends inside the caller's Drizzle transaction (node-postgres or PGlite driver), so the caller's
 * writes and the events commit or roll back together. Needs `drizzle-orm` (an optional peer dependency).
 */
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { sql, type SQL } from 'drizzle-orm';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore, EventStoreTransaction } from '../store/event-store.js';
import { checkOrmTransaction, splitPlaceholders } from './placeholders.js';

/** What eventlane uses of a Drizzle transaction (or database): `execute` of raw SQL, resolving to its rows. */
export interface DrizzleTransaction {
  execute(query: SQL): PromiseLike<{ rows: unknown[] }>;
}

/** Turns eventlane's `$1`-style statement into a Drizzle SQL object with the same parameters, in order. */
function toDrizzleSql(text: string, params: readonly unknown[] = []): SQL {
  const chunks: SQL[] = [];
  for (const part of splitPlaceholders(text, params.length)) {
    chunks.push(typeof part === 'string' ? sql.raw(part) : sql`${params[part]}`);
  }
  return sql.join(chunks);
}

/**
 * Works inside `tx`, a transaction the caller opened with Drizzle (`db.transaction(async (tx) => …)`): appends
 * commit or roll back with it, and wake relays and workers when it commits.
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.insert(orders).values({ id: 42, total: 10 });
 *   await enlistDrizzle(store, tx).append('order-42', [OrderPlaced.create({ total: 10 })]);
 * });
 */
export function enlistDrizzle<E extends StoredEvent<string, unknown>>(
  store: EventStore<E>,
  tx: DrizzleTransaction,
): EventStoreTransaction<E> {
  checkOrmTransaction(tx, 'execute', 'enlistDrizzle', 'a Drizzle transaction (the `tx` of db.transaction)');
  return store.enlist({
    async query(text: string, params?: unknown[]) {
      try {
        return await tx.execute(toDrizzleSql(text, params));
      } catch (error) {
        // Drizzle wraps driver errors; eventlane reads PostgreSQL's error code and constraint from the original.
        throw error instanceof DrizzleQueryError && error.cause !== undefined ? error.cause : error;
      }
    },
  });
}
