/**
 * Prisma adapter: appends inside the caller's interactive Prisma transaction, so the caller's writes and the events
 * commit or roll back together. Works with any Prisma client for PostgreSQL (tested with Prisma 7 and
 * @prisma/adapter-pg); eventlane imports nothing from Prisma.
 */
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore, EventStoreTransaction } from '../store/event-store.js';
import { checkOrmTransaction } from './placeholders.js';

/** What eventlane uses of a Prisma transaction client: `$queryRawUnsafe` with positional parameters. */
export interface PrismaTransaction {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
}

interface PrismaRawQueryError extends Error {
  meta?: {
    driverAdapterError?: {
      cause?: { originalCode?: unknown; originalMessage?: unknown; constraint?: { index?: unknown } };
    };
  };
}

/**
 * Prisma reports a failed raw query as its own error, with PostgreSQL's code and constraint inside `meta`; eventlane
 * reads them (a reused event id is a DuplicateEventIdError), so they are lifted onto an error that keeps Prisma's as
 * its cause.
 */
function postgresErrorOf(error: unknown): unknown {
  const cause = (error as PrismaRawQueryError | undefined)?.meta?.driverAdapterError?.cause;
  if (!(error instanceof Error) || typeof cause?.originalCode !== 'string') return error;
  const message = typeof cause.originalMessage === 'string' ? cause.originalMessage : error.message;
  return Object.assign(new Error(message, { cause: error }), {
    code: cause.originalCode,
    constraint: cause.constraint?.index,
  });
}

/**
 * Works inside `tx`, the client of an interactive transaction (`prisma.$transaction(async (tx) => …)`): appends
 * commit or roll back with it, and wake relays and workers when it commits.
 *
 * @example
 * await prisma.$transaction(async (tx) => {
 *   await tx.order.create({ data: { id: 42, total: 10 } });
 *   await enlistPrisma(store, tx).append('order-42', [OrderPlaced.create({ total: 10 })]);
 * });
 */
export function enlistPrisma<E extends StoredEvent<string, unknown>>(
  store: EventStore<E>,
  tx: PrismaTransaction,
): EventStoreTransaction<E> {
  checkOrmTransaction(
    tx,
    '$queryRawUnsafe',
    'enlistPrisma',
    'an interactive Prisma transaction client (the `tx` of prisma.$transaction(async (tx) => …))',
  );
  return store.enlist({
    async query(text: string, params: unknown[] = []) {
      try {
        return { rows: await tx.$queryRawUnsafe<unknown[]>(text, ...params) };
      } catch (error) {
        throw postgresErrorOf(error);
      }
    },
  });
}
