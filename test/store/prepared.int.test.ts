import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createEventStore } from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';

/**
 * The store sends its hot statements (append, stream reads, stream version) as named prepared statements. These
 * tests hold the one connection of a pool that has prepared them and change the database under it.
 */
describe.skipIf(!pgAvailable())('prepared statements (PostgreSQL)', () => {
  it('prepares the append and the stream read once per connection and reuses them', async () => {
    const schema = uniqueSchema();
    const store = await createEventStore({ url: SERVICES.postgres.url, schema, poolSize: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        await store.append('p-1', [{ type: 'x.a', data: { i } }], {
          expectedVersion: i === 0 ? 'no_stream' : i,
        });
        await store.readStream('p-1');
      }
      const rows = await store.executor.query<{ statement: string }>(
        `select statement from pg_prepared_statements where name like 'eventlane_%'`,
      );
      // This pool has one connection: each text was prepared once on it, whatever the number of calls.
      expect(rows.filter((r) => r.statement.includes('.append_events('))).toHaveLength(1);
      expect(
        rows.filter((r) => r.statement.includes('where stream = $1 and stream_position >=')),
      ).toHaveLength(1);
      expect((await store.readStream('p-1')).map((e) => e.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('prepares nothing with preparedStatements: false, nor on a connection the caller enlists', async () => {
    const schema = uniqueSchema();
    const store = await createEventStore({
      url: SERVICES.postgres.url,
      schema,
      poolSize: 1,
      preparedStatements: false,
    });
    const client = new pg.Client({ connectionString: SERVICES.postgres.url });
    await client.connect();
    try {
      await store.append('p-1', [{ type: 'x.a', data: {} }], { expectedVersion: 'no_stream' });
      await store.readStream('p-1');
      const [own] = await store.executor.query<{ n: number }>(
        `select count(*)::int as n from pg_prepared_statements where name like 'eventlane_%'`,
      );
      expect(own!.n).toBe(0);
      await client.query('begin');
      await store.enlist(client).append('p-2', [{ type: 'x.a', data: {} }], { expectedVersion: 'no_stream' });
      await client.query('commit');
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from pg_prepared_statements where name like 'eventlane_%'`,
      );
      expect(rows[0]!.n).toBe(0);
      await expect(
        createEventStore({ url: SERVICES.postgres.url, schema, preparedStatements: 'yes' as never }),
      ).rejects.toThrow(/preparedStatements must be true or false/);
    } finally {
      await client.end();
      await store.close();
      await dropSchema(schema);
    }
  });

  it('keeps working when the schema is dropped and migrated again under connections that prepared it', async () => {
    const schema = uniqueSchema();
    const store = await createEventStore({ url: SERVICES.postgres.url, schema, poolSize: 1 });
    try {
      await store.append('p-1', [{ type: 'x.a', data: { n: 1 } }]);
      await store.readStream('p-1');
      // Another process drops everything and migrates afresh: new tables and a new append function, same names.
      const admin = new pg.Client({ connectionString: SERVICES.postgres.url });
      await admin.connect();
      await admin.query(`drop schema "${schema}" cascade`);
      await admin.end();
      const again = await createEventStore({ url: SERVICES.postgres.url, schema, poolSize: 1 });
      await again.close();
      // The first store's connection still holds the statements it prepared against the dropped objects.
      const result = await store.append('p-1', [{ type: 'x.b', data: { n: 2 } }], {
        expectedVersion: 'no_stream',
      });
      expect(result.streamVersion).toBe(1);
      expect((await store.readStream('p-1')).map((e) => e.type)).toEqual(['x.b']);
      expect(await store.streamVersion('p-1')).toBe(1);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});
