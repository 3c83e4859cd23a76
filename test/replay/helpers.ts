import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEventStore, type EventStore } from '../../src/index.js';
import { compareCheckpoints, formatCheckpoint, quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';

export async function openStore(): Promise<EventStore> {
  return createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema(), poolSize: 6 });
}

export async function closeStore(store: EventStore): Promise<void> {
  const schema = store.schema;
  await store.close();
  await dropSchema(schema);
}

export function q(store: EventStore): string {
  return quoteIdent(store.schema);
}

/** `total` events over `streams` streams (`order-0` …), 50 per append; every `sparseEvery`-th is `order.refunded`. */
export async function appendOrders(
  store: EventStore,
  total: number,
  streams: number,
  sparseEvery = 0,
): Promise<void> {
  let n = 0;
  const perStream = Math.ceil(total / streams);
  for (let s = 0; s < streams && n < total; s++) {
    let left = Math.min(perStream, total - n);
    while (left > 0) {
      const count = Math.min(50, left);
      await store.append(
        `order-${s}`,
        Array.from({ length: count }, () => {
          n++;
          const type = sparseEvery > 0 && n % sparseEvery === 0 ? 'order.refunded' : 'order.paid';
          return { type, data: { n, amount: n % 7 } };
        }),
      );
      left -= count;
    }
  }
}

/** Waits until a log reader sees every event appended so far (open transactions elsewhere on the server delay it). */
export async function settle(store: EventStore): Promise<void> {
  // The head is the last event in commit order (tx_order, then global_position), which need not hold the highest
  // global position: concurrent writers take positions in insert order but commit in xid order. Wait for that last
  // event, not for the highest position (which a head can stay below for good).
  const [row] = await store.executor.query<{ tx: string; gp: string }>(
    `select tx_order::text as tx, global_position::text as gp from ${q(store)}.events
      order by tx_order desc, global_position desc limit 1`,
  );
  if (row === undefined) return;
  const last = formatCheckpoint(row.tx, BigInt(row.gp));
  const max = BigInt(row.gp);
  try {
    await waitFor('the log head', async () => compareCheckpoints((await store.head()).checkpoint, last) >= 0);
  } catch (error) {
    // The head stops at the oldest open transaction's snapshot: name the transactions open on the server so a
    // timeout says which one held it.
    const open = await store.executor
      .query<{ pid: number; age: string; state: string; app: string; query: string }>(
        `select pid, (now() - xact_start)::text as age, coalesce(state, '') as state,
                coalesce(application_name, '') as app, left(coalesce(query, ''), 200) as query
           from pg_stat_activity where xact_start is not null and pid <> pg_backend_pid()
          order by xact_start limit 10`,
      )
      .catch(() => []);
    throw new Error(
      `${(error as Error).message} (head ${String((await store.head()).globalPosition)}, max ${String(max)}); open transactions: ${JSON.stringify(open)}`,
    );
  }
}

export async function jobRows(store: EventStore): Promise<number> {
  const [row] = await store.executor.query<{ n: number }>(
    `select count(*)::int as n from ${q(store)}.replay_jobs`,
  );
  return row!.n;
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An idempotent HTTP endpoint, like a payment provider's: it counts calls per idempotency key. */
export async function startEndpoint(): Promise<{ server: Server; url: string; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  const server = createServer((req, res) => {
    const key = String(req.headers['idempotency-key']);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, calls };
}
