import { Registry } from 'prom-client';
import {
  createProjections,
  createRelay,
  createWorker,
  defineProjection,
  embeddedBus,
  type EventStore,
  type ProjectionDefinition,
} from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { startOpsServer, type OpsServer, type OpsServerOptions } from '../../src/ops/index.js';
import { appendSpread, openPgStore, waitFor } from '../consumers/helpers.js';
import { dropSchema, waitForHead } from '../support/stores.js';

const failBad = defineProjection({
  name: 'totals',
  handlers: {
    'item.added': async (e) => {
      await Promise.resolve();
      if (e.stream === 'bad') throw new Error('poison <script>alert(1)</script>');
    },
  },
});

/** A versioned projection that stops at the first `item.added` (the event of stream `bad`). */
export const summaryProjection = defineProjection({
  name: 'summary',
  version: 1,
  tables: { ops_summary: 'create table :TABLE: (stream text primary key, n int not null)' },
  handlers: {
    'item.added': async (e, { query, tables }) => {
      if (e.stream === 'bad') throw new Error('summary refuses the stream bad');
      await query(
        `insert into ${tables.ops_summary!} (stream, n) values ($1, 1)
         on conflict (stream) do update set n = excluded.n + 1`,
        [e.stream],
      );
    },
  },
});

/** A versioned projection that never fails: one row per stream with its event count. */
export const countsProjection = defineProjection({
  name: 'counts',
  version: 1,
  tables: { ops_counts: 'create table :TABLE: (stream text primary key, n int not null)' },
  handlers: {
    'item.added': async (e, { query, tables }) => {
      await query(
        `insert into ${tables.ops_counts!} as t (stream, n) values ($1, 1)
         on conflict (stream) do update set n = t.n + 1`,
        [e.stream],
      );
    },
  },
});

export interface Seeded {
  store: EventStore;
  /** What the seed left behind, for the tests to compare with. */
  truth: {
    consumerBehind: number;
    consumerParked: number;
    relayBacklog: number;
    parkedId: string;
    /** The checkpoint of the last event in commit order (the log head once it is readable). */
    head: string;
  };
  cleanup(): Promise<void>;
}

/**
 * A store where the consumer `totals` is 21 events behind with 1 parked event (stream `bad`, data with HTML in it),
 * the relay `main` ran once and is 21 events behind, and no worker or relay runs now.
 */
export async function seedStore(options: { projection?: boolean } = {}): Promise<Seeded> {
  const store = await openPgStore();
  const registry = new Registry();
  const worker = createWorker(store, {
    from: 'log',
    consumers: [failBad],
    partitions: 2,
    group: 'ops',
    registry,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
  const relay = createRelay(store, { bus: embeddedBus(), name: 'main', registry: null });
  await relay.start();
  await worker.start();
  await store.append('bad', [
    { type: 'item.added', data: { amount: 1, note: '<img src=x onerror=alert(1)>' } },
  ]);
  await waitFor('the poison event parked', async () => (await worker.health())[0]!.parked === 1);
  await relay.caughtUp();
  await worker.stop();
  await relay.stop();
  let projections: { stop(): Promise<void> } | undefined;
  if (options.projection) {
    const p = createProjections(store, {
      projections: [summaryProjection],
      schema: `${store.schema}_read`,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    await p.start();
    projections = p;
    await waitFor('the projection stalled', () => p.progress('summary').failure?.status === 'parked');
    await p.stop();
  }
  await appendSpread(store, 20, 5);
  // Log reads see an event once every older transaction of the server has ended: wait until they see all 21.
  const [last] = await store.executor.query<{ checkpoint: string }>(
    `select tx_order::text || ':' || global_position::text as checkpoint from ${store.schema}.events
      order by tx_order desc, global_position desc limit 1`,
  );
  await waitForHead(store, last!.checkpoint, 60_000);
  const [row] = await store.executor.query<{ id: string }>(
    `select id::text as id from ${store.schema}.parked_events where consumer = 'totals'`,
  );
  return {
    store,
    truth: {
      consumerBehind: 21,
      consumerParked: 1,
      relayBacklog: 20,
      parkedId: row!.id,
      head: last!.checkpoint,
    },
    async cleanup() {
      await projections?.stop();
      await store.close();
      await dropSchema(store.schema);
      await dropSchema(`${store.schema}_read`);
    },
  };
}

/** `startOpsServer` on a free port with a registry of its own, for tests. */
export function startTestServer(
  store: EventStore,
  token: string,
  options: Omit<OpsServerOptions, 'store' | 'token'> = {},
): Promise<OpsServer> {
  return startOpsServer({ store, token, port: 0, registries: [new Registry()], ...options });
}

/**
 * A handler-only projection `tally` counting applications per stream of `order.paid` in `<schema>.tally` (created
 * here), for replay jobs through the API and the dashboard: an event applied twice would show in `tallySum`.
 */
export async function tallyProjection(store: EventStore): Promise<ProjectionDefinition> {
  const table = `${quoteIdent(store.schema)}.tally`;
  await store.executor.query(`create table ${table} (stream text primary key, n int not null)`);
  return defineProjection({
    name: 'tally',
    handlers: {
      'order.paid': async (e, { query }) => {
        await query(
          `insert into ${table} (stream, n) values ($1, 1) on conflict (stream) do update set n = tally.n + 1`,
          [e.stream],
        );
      },
    },
  });
}

export async function tallySum(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ n: number }>(
    `select coalesce(sum(n), 0)::int as n from ${quoteIdent(store.schema)}.tally`,
  );
  return row!.n;
}
