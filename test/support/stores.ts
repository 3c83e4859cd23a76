import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createEventStore, type EventStore, type EventStoreOptions } from '../../src/index.js';
import { SERVICES } from './services.js';
import { scaled } from './time.js';

/** A fresh schema name, so test files and tests never see each other's events. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface StoreTarget {
  name: 'pg' | 'pglite';
  /** False when the service is unreachable outside CI: the suite is skipped and the run says so. */
  available: boolean;
  open(options?: Omit<EventStoreOptions, 'url' | 'pool' | 'client' | 'pglite'>): Promise<EventStore>;
}

/** The store suite runs once per driver: PostgreSQL (a schema per store) and embedded PGlite (in memory). */
export function storeTargets(): StoreTarget[] {
  const services = inject('services');
  return [
    {
      name: 'pg',
      available: services.postgres,
      open: (options = {}) =>
        createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema(), ...options }),
    },
    { name: 'pglite', available: true, open: (options = {}) => createEventStore(options) },
  ];
}

/** Drops a test schema (only the tests' own `t_…` schemas). */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^t_[a-z0-9_]+$/.test(schema)) return;
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export function pgAvailable(): boolean {
  return inject('services').postgres;
}

/**
 * What the store holds, byte for byte: event and stream counts, the highest position and a digest of every
 * event. Unlike `head()`, it does not depend on other transactions elsewhere on the server.
 */
export async function logState(store: EventStore): Promise<unknown> {
  const [state] = await store.executor.query(
    `select (select count(*)::int from ${store.schema}.events) as events,
            (select count(*)::int from ${store.schema}.streams) as streams,
            (select coalesce(max(global_position), 0)::text from ${store.schema}.events) as max_position,
            (select coalesce(sum(version), 0)::text from ${store.schema}.streams) as versions,
            (select md5(coalesce(string_agg(id::text || stream || stream_position || type || data::text || metadata::text,
                                            ',' order by global_position), ''))
               from ${store.schema}.events) as digest`,
  );
  return state;
}

/** Waits until a log reader can see everything up to `checkpoint` (other transactions on the server may delay it). */
export async function waitForHead(store: EventStore, checkpoint: string, timeoutMs = 10_000): Promise<void> {
  timeoutMs = scaled(timeoutMs);
  const { compareCheckpoints } = await import('../../src/index.js');
  const deadline = Date.now() + timeoutMs;
  while (compareCheckpoints((await store.head()).checkpoint, checkpoint) < 0) {
    if (Date.now() > deadline)
      throw new Error(`the log head did not reach ${checkpoint} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
