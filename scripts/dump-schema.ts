/**
 * Writes schema/eventlane.sql: the schema eventlane's migrations create, dumped from a fresh schema on the
 * PostgreSQL at EVENTLANE_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test). The schema drift test
 * fails until this file is regenerated after a migration is added, so every DDL change shows in review.
 */
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { createEventStore } from '../src/index.js';
import { dumpSchema } from './schema-dump.js';

const url = process.env.EVENTLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `dump_${Date.now().toString(36)}`;
const store = await createEventStore({ url, schema });
try {
  writeFileSync(
    new URL('../schema/eventlane.sql', import.meta.url),
    await dumpSchema(store.executor, schema),
  );
  console.log('wrote schema/eventlane.sql');
} finally {
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`drop schema ${schema} cascade`);
  await client.end();
}
