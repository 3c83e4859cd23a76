/**
 * Where the demo runs: the embedded store (PGlite, in memory) by default; with DATABASE_URL a PostgreSQL server
 * (schema DEMO_SCHEMA, default "orders_demo", dropped and created again on each run), and with NATS_URL too the
 * relay publishes to NATS JetStream and the worker consumes from it.
 */
import pg from 'pg';
import { createEventStore } from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { events } from './contracts.js';
import { readModelTables } from './consumers.js';

export interface DemoConfig {
  url: string | undefined;
  natsUrl: string | undefined;
  /** The store's schema, which also holds the service's table and the read models. */
  schema: string;
  orders: number;
  writers: number;
  serve: boolean;
  json: string | undefined;
}

function numberFlag(args: string[], name: string, fallback: number, min: number, max: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const n = Number(args[at + 1]);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(
      `${name} takes a whole number from ${min} to ${max}, got ${JSON.stringify(args[at + 1])}`,
    );
  }
  return n;
}

export function readConfig(args: string[], env: NodeJS.ProcessEnv): DemoConfig {
  const known = new Set(['--serve', '--json', '--orders', '--writers']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!known.has(a)) {
      throw new Error(
        `unknown argument ${JSON.stringify(a)}; use --serve, --json <file>, --orders <n>, --writers <n>`,
      );
    }
    if (a !== '--serve') i++;
  }
  const schema = env.DEMO_SCHEMA ?? 'orders_demo';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(
      `DEMO_SCHEMA must be a lower-case identifier (letters, digits, _), got ${JSON.stringify(schema)}`,
    );
  }
  const jsonAt = args.indexOf('--json');
  const json = jsonAt < 0 ? undefined : args[jsonAt + 1];
  if (jsonAt >= 0 && (json === undefined || json.startsWith('--')))
    throw new Error('--json takes a file path');
  return {
    url: env.DATABASE_URL || undefined,
    natsUrl: env.DATABASE_URL ? env.NATS_URL || undefined : undefined,
    schema,
    orders: numberFlag(args, '--orders', 2000, 20, 100_000),
    writers: numberFlag(args, '--writers', 8, 1, 64),
    serve: args.includes('--serve'),
    json,
  };
}

export async function openStore(config: DemoConfig) {
  if (config.url === undefined) return createEventStore({ events, schema: config.schema });
  // A fresh schema per run: the demo's own, named by DEMO_SCHEMA.
  const client = new pg.Client({ connectionString: config.url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${quoteIdent(config.schema)} cascade`);
  } finally {
    await client.end();
  }
  return createEventStore({ url: config.url, schema: config.schema, events, poolSize: 10 });
}

export type OrdersStore = Awaited<ReturnType<typeof openStore>>;

/** The service's own table and the read models of the handler-only projections. */
export async function createTables(store: OrdersStore, schema: string): Promise<void> {
  await store.executor.exec(`
    create table ${schema}.orders (id text primary key, customer_id text not null, total numeric not null,
      currency text not null, status text not null, refunded numeric not null default 0);
    ${readModelTables(schema)}`);
}
