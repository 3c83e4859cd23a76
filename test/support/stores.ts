import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createEventStore, type EventStore, type EventStoreOptions } from '../../src/index.js';
import { SERVICES } from './services.js';

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
