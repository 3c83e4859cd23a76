import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { integer, pgSchema } from 'drizzle-orm/pg-core';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventStore,
  DuplicateEventIdError,
  ExpectedVersionConflictError,
  InvalidArgumentError,
  type EventStore,
  type EventStoreTransaction,
} from '../../src/index.js';
import { enlistDrizzle } from '../../src/orm/drizzle.js';
import { enlistKysely } from '../../src/orm/kysely.js';
import { enlistPrisma } from '../../src/orm/prisma.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';
import { generatePrismaClient } from './prisma-client.js';

/**
 * One ORM case: a store, and a way to run the caller's ORM transaction that inserts an order row with the ORM and
 * hands the adapter's unit of work to `inside`.
 */
interface OrmCase {
  store: EventStore;
  inTransaction(id: number, inside: (tx: EventStoreTransaction) => Promise<void>): Promise<void>;
  orderIds(): Promise<number[]>;
  close(): Promise<void>;
}

const ordersTable = (schema: string) =>
  pgSchema(schema).table('orders', { id: integer('id').primaryKey(), total: integer('total').notNull() });

const createOrders = (schema: string) =>
  `create table "${schema}".orders (id int primary key, total int not null)`;

async function selectIds(store: EventStore): Promise<number[]> {
  const rows = await store.executor.query<{ id: number }>(
    `select id from "${store.schema}".orders order by id`,
  );
  return rows.map((r) => r.id);
}

const PRISMA_CLIENT = './prisma/generated/client.js';
interface PrismaTx {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  order: { create(args: { data: { id: number; total: number } }): Promise<unknown> };
}
type PrismaClientClass = new (options: { adapter: unknown }) => {
  $transaction<T>(fn: (tx: PrismaTx) => Promise<T>): Promise<T>;
  $disconnect(): Promise<void>;
};

type InTransaction = OrmCase['inTransaction'];
type OrmSetup = { inTransaction: InTransaction; end: () => Promise<void> };

/** A case on PostgreSQL: a fresh schema with an orders table, a store on it, and the ORM `setup` opens. */
async function onPostgres(
  setup: (schema: string, store: EventStore) => OrmSetup | Promise<OrmSetup>,
): Promise<OrmCase> {
  const schema = uniqueSchema();
  const store = await createEventStore({ url: SERVICES.postgres.url, schema });
  await store.executor.query(createOrders(schema));
  const { inTransaction, end } = await setup(schema, store);
  return {
    store,
    inTransaction,
    orderIds: () => selectIds(store),
    close: async () => {
      await store.close();
      await end();
      await dropSchema(schema);
    },
  };
}

const cases: Record<string, { pg: boolean; open: () => Promise<OrmCase> }> = {
  'Drizzle (node-postgres)': {
    pg: true,
    open: () =>
      onPostgres((schema, store) => {
        const pool = new pg.Pool({ connectionString: SERVICES.postgres.url, max: 2 });
        const db = drizzlePg(pool);
        const orders = ordersTable(schema);
        return {
          inTransaction: (id, inside) =>
            db.transaction(async (tx) => {
              await tx.insert(orders).values({ id, total: 10 });
              await inside(enlistDrizzle(store, tx));
            }),
          end: () => pool.end(),
        };
      }),
  },
  'Drizzle (PGlite)': {
    pg: false,
    async open() {
      const client = await PGlite.create();
      const store = await createEventStore({ pglite: client, schema: 'app' });
      await client.exec(createOrders('app'));
      const db = drizzlePglite(client);
      const orders = ordersTable('app');
      const inTransaction: InTransaction = (id, inside) =>
        db.transaction(async (tx) => {
          await tx.insert(orders).values({ id, total: 10 });
          await inside(enlistDrizzle(store, tx));
        });
      const close = async () => {
        await store.close();
        await client.close();
      };
      return { store, inTransaction, orderIds: () => selectIds(store), close };
    },
  },
  Kysely: {
    pg: true,
    open: () =>
      onPostgres((schema, store) => {
        const db = new Kysely<{ orders: { id: number; total: number } }>({
          dialect: new PostgresDialect({
            pool: new pg.Pool({ connectionString: SERVICES.postgres.url, max: 2 }),
          }),
        }).withSchema(schema);
        return {
          inTransaction: (id, inside) =>
            db.transaction().execute(async (trx) => {
              await trx.insertInto('orders').values({ id, total: 10 }).execute();
              await inside(enlistKysely(store, trx));
            }),
          end: () => db.destroy(),
        };
      }),
  },
  'Prisma (@prisma/adapter-pg)': {
    pg: true,
    open: () =>
      onPostgres(async (schema, store) => {
        // Generated before the tests (not committed), so typed here by what the test uses.
        const { PrismaClient } = (await import(PRISMA_CLIENT)) as { PrismaClient: PrismaClientClass };
        const { PrismaPg } = await import('@prisma/adapter-pg');
        const prisma = new PrismaClient({
          adapter: new PrismaPg({ connectionString: SERVICES.postgres.url, max: 2 }, { schema }),
        });
        return {
          inTransaction: (id, inside) =>
            prisma.$transaction(async (tx) => {
              await tx.order.create({ data: { id, total: 10 } });
              await inside(enlistPrisma(store, tx));
            }),
          end: () => prisma.$disconnect(),
        };
      }),
  },
};

beforeAll(async () => {
  if (pgAvailable()) await generatePrismaClient();
}, 120_000);

for (const [name, { pg: needsPg, open }] of Object.entries(cases)) {
  describe.skipIf(needsPg && !pgAvailable())(`ORM adapter: ${name}`, () => {
    let c: OrmCase;
    beforeAll(async () => {
      c = await open();
    });
    afterAll(async () => {
      await c.close();
    });

    it('commits the caller’s ORM write and the events together', async () => {
      await c.inTransaction(1, async (tx) => {
        await tx.append('order-1', [{ type: 'order.placed', data: { total: 10 } }], {
          expectedVersion: 'no_stream',
        });
        // Reads in the same transaction see the append before it commits.
        expect(await tx.streamVersion('order-1')).toBe(1);
      });
      expect(await c.orderIds()).toEqual([1]);
      const events = await c.store.readStream('order-1');
      expect(events.map((e) => [e.type, e.data])).toEqual([['order.placed', { total: 10 }]]);
    });

    it('rolls back the caller’s ORM write and the events together when the transaction throws', async () => {
      await expect(
        c.inTransaction(2, async (tx) => {
          await tx.append('order-2', [{ type: 'order.placed', data: { total: 10 } }]);
          await tx.append('order-1', [{ type: 'order.shipped', data: {} }], { expectedVersion: 1 });
          throw new Error('payment declined');
        }),
      ).rejects.toThrow('payment declined');
      expect(await c.orderIds()).toEqual([1]);
      expect(await c.store.streamVersion('order-2')).toBe(0);
      expect(await c.store.streamVersion('order-1')).toBe(1);
    });

    it('a concurrency conflict is the typed error and rolls back the ORM write', async () => {
      await expect(
        c.inTransaction(3, async (tx) => {
          await tx.append('order-1', [{ type: 'order.placed', data: {} }], { expectedVersion: 'no_stream' });
        }),
      ).rejects.toBeInstanceOf(ExpectedVersionConflictError);
      expect(await c.orderIds()).toEqual([1]);
    });

    it('a reused event id is the typed DuplicateEventIdError and rolls back the ORM write', async () => {
      const id = randomUUID();
      await c.inTransaction(5, async (tx) => {
        await tx.append('order-5', [{ id, type: 'order.placed', data: {} }]);
      });
      await expect(
        c.inTransaction(6, async (tx) => {
          await tx.append('order-6', [{ id, type: 'order.placed', data: {} }], {
            expectedVersion: 'no_stream',
          });
        }),
      ).rejects.toBeInstanceOf(DuplicateEventIdError);
      expect(await c.orderIds()).toContain(5);
      expect(await c.orderIds()).not.toContain(6);
    });

    it('handles a command inside the caller’s transaction', async () => {
      await c.inTransaction(4, async (tx) => {
        const { state } = await tx.handle('order-1', (n) => [{ type: 'order.noted', data: { n } }], {
          initialState: () => 0,
          evolve: (n) => n + 1,
        });
        expect(state).toBe(2);
      });
      expect(await c.orderIds()).toContain(4);
      expect(await c.store.streamVersion('order-1')).toBe(2);
    });
  });
}

describe('ORM adapters refuse what is not a transaction', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await createEventStore();
  });
  afterAll(async () => {
    await store.close();
  });
  it.each([
    ['enlistDrizzle', enlistDrizzle, /enlistDrizzle takes a Drizzle transaction/],
    ['enlistKysely', enlistKysely, /enlistKysely takes a Kysely transaction/],
    ['enlistPrisma', enlistPrisma, /enlistPrisma takes an interactive Prisma transaction/],
  ])('%s', (_, enlist, message) => {
    for (const bad of [null, undefined, 'tx', {}, { query: () => undefined }]) {
      expect(() => (enlist as (s: EventStore, tx: unknown) => unknown)(store, bad)).toThrow(
        InvalidArgumentError,
      );
      expect(() => (enlist as (s: EventStore, tx: unknown) => unknown)(store, bad)).toThrow(message);
    }
  });
});
