import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { readLag } from '../../src/consumers/health.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { kill9, reap } from '../support/processes.js';
import { scaled } from '../support/time.js';
import { openPgStore, sleep, waitFor } from '../consumers/helpers.js';
import { startEndpoint } from '../consumers/fixtures/endpoint.js';
import { createChaosTables, expectChaosOutcome } from '../consumers/fixtures/chaos-check.js';
import { spawnWorker, type Child } from '../consumers/fixtures/spawn-worker.js';

const EVENTS = Number(process.env.MANY_WORKERS_EVENTS ?? 30_000);
const STREAMS = 2000;
const PARTITIONS = 64;
const LEASE_TTL_MS = 3000;
const WORKER = fileURLToPath(new URL('../consumers/fixtures/chaos-worker.ts', import.meta.url));

/** Live owners and how many partitions each holds (owners whose lease is still fresh). */
async function ownership(store: EventStore): Promise<{ owners: Map<string, number>; free: number }> {
  const q = quoteIdent(store.schema);
  const rows = await store.executor.query<{ owner: string | null; n: number }>(
    `select case when owner is not null and heartbeat_at > now() - $1::float8 * interval '1 millisecond'
                 then owner end as owner, count(*)::int as n
       from ${q}.partition_leases group by 1`,
    [LEASE_TTL_MS],
  );
  const owners = new Map<string, number>();
  let free = 0;
  for (const r of rows) {
    if (r.owner === null) free += r.n;
    else owners.set(r.owner, r.n);
  }
  return { owners, free };
}

/** Every partition owned, by exactly the live workers `ids`, each within one of an even share. */
async function balanced(store: EventStore, ids: readonly string[]): Promise<boolean> {
  const { owners, free } = await ownership(store);
  if (free > 0 || owners.size !== ids.length || ids.some((id) => !owners.has(id))) return false;
  const counts = [...owners.values()];
  return Math.max(...counts) - Math.min(...counts) <= 1;
}

async function appendAll(store: EventStore, total: number, durationMs: number, signal: AbortSignal) {
  const started = Date.now();
  let n = 0;
  let i = 0;
  const work = async () => {
    while (n < total) {
      signal.throwIfAborted();
      const count = Math.min(total - n, 1 + (i % 5));
      n += count;
      await store.append(
        `many-${(i++ * 7919) % STREAMS}`,
        Array.from({ length: count }, () => ({
          type: 'item.added',
          data: { amount: 1 + Math.floor(Math.random() * 100) },
        })),
      );
      const ahead = (n / total) * durationMs - (Date.now() - started);
      if (ahead > 5) await sleep(ahead);
    }
  };
  await Promise.all(Array.from({ length: 4 }, work));
}

/**
 * 64 partitions and up to eight worker processes of one group that join and leave while events keep coming (one
 * leaves with SIGTERM, one is killed with SIGKILL). After each change the partitions spread within one of even over
 * the live workers; a killed worker's partitions are taken over within the lease time; in the end every stream is
 * applied in order and every effect key reached the endpoint.
 */
describe.skipIf(!pgAvailable())('many workers: 64 partitions, 8 processes joining and leaving', () => {
  it(
    `${EVENTS} events; rebalance on join, leave and kill -9; nothing lost, nothing applied twice`,
    async ({ signal }) => {
      const store = await openPgStore();
      const q = quoteIdent(store.schema);
      await createChaosTables(store);
      const endpoint = await startEndpoint();
      const live = new Map<string, Child>();
      const ended: Child[] = [];
      onTestFinished(async () => {
        await Promise.all([...live.values(), ...ended].map((w) => reap(w.proc, scaled(10_000))));
        endpoint.server.close();
        await store.close();
        await dropSchema(store.schema);
      });
      const env = {
        PG_URL: SERVICES.postgres.url,
        SCHEMA: store.schema,
        MODE: 'log',
        ENDPOINT: endpoint.url,
        PARTITIONS: String(PARTITIONS),
        LEASE_TTL_MS: String(LEASE_TTL_MS),
        CHAOS_FAIL_RATE: '0.01',
        // Eight workers share the server's 100 connections with this test and the rest of the machine.
        POOL_SIZE: '6',
      };
      let next = 0;
      const join = async (n: number) => {
        const ids = Array.from({ length: n }, () => `w${String(next++).padStart(2, '0')}`);
        const children = await Promise.all(ids.map((id) => spawnWorker(WORKER, env, id, signal)));
        for (const c of children) live.set(c.id, c);
      };
      const timings: Record<string, number> = {};
      const settle = async (what: string, from: number, timeoutMs = 120_000) => {
        let shown = 0;
        await waitFor(
          `${what}: partitions spread within one of even`,
          async () => {
            if (process.env.MANY_WORKERS_DEBUG && Date.now() - shown > 2000) {
              shown = Date.now();
              const { owners, free } = await ownership(store);
              console.log(`${what}: ${JSON.stringify(Object.fromEntries(owners))}, ${free} free`);
            }
            return balanced(store, [...live.keys()]);
          },
          timeoutMs,
          100,
        );
        timings[what] = Date.now() - from;
      };

      await join(4);
      await settle('4 workers start', Date.now());
      const appended = appendAll(store, EVENTS, 20_000, signal);
      // Awaited below; a failure before then (the test timing out) must not surface as an unhandled rejection.
      appended.catch(() => undefined);

      // Rebalance times count from the moment the new workers are ready (process start-up is not rebalancing).
      await join(4);
      let t = Date.now();
      await settle('4 join (8 in all)', t);

      // kill -9: its leases stay until they expire, then the others take its partitions over.
      const victim = live.get('w03')!;
      live.delete(victim.id);
      ended.push(victim);
      t = Date.now();
      await kill9(victim.proc);
      await waitFor(
        'the killed worker’s partitions taken over',
        async () => !(await ownership(store)).owners.has(victim.id) && (await ownership(store)).free === 0,
        60_000,
        100,
      );
      timings['kill -9: partitions taken over'] = Date.now() - t;
      await settle('kill -9 (7 left)', t);

      // A graceful leave hands its partitions over at once.
      const leaving = live.get('w05')!;
      live.delete(leaving.id);
      ended.push(leaving);
      t = Date.now();
      await reap(leaving.proc, scaled(15_000));
      expect(leaving.proc.exitCode, 'a worker leaving on SIGTERM exits 0').toBe(0);
      await settle('SIGTERM leave (6 left)', t);

      await join(2);
      t = Date.now();
      await settle('2 join (8 in all)', t);
      await appended;

      await waitFor(
        'both consumers caught up',
        async () => {
          signal.throwIfAborted();
          const [a, b] = [
            await readLag(store.executor, q, 'chaos_totals'),
            await readLag(store.executor, q, 'chaos_notify'),
          ];
          return a.eventsBehind === 0 && b.eventsBehind === 0;
        },
        300_000,
        250,
      );
      await Promise.all([...live.values()].map((w) => reap(w.proc, scaled(15_000))));
      for (const w of live.values()) expect(w.proc.exitCode, `worker ${w.id} exit code`).toBe(0);

      // Takeover after a kill is bounded by the lease: it expires after LEASE_TTL_MS, the next tick takes it.
      expect(timings['kill -9: partitions taken over']).toBeLessThanOrEqual(scaled(LEASE_TTL_MS * 3));

      // Nothing lost, nothing applied twice (the projection equals a sequential fold of the log), every stream in
      // order, each effect journaled once with its key at the endpoint.
      const { repeated } = await expectChaosOutcome(store, endpoint, EVENTS);
      console.log(
        `many workers: ${EVENTS} events, ${PARTITIONS} partitions; rebalance (ms): ${JSON.stringify(timings)}; ` +
          `${repeated} effect keys called twice (a killed worker's call in flight; absorbed by the endpoint)`,
      );
    },
    scaled(900_000),
  );
});
