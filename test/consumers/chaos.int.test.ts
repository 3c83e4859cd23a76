import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createRelay } from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { cleanupBus } from '../relay/support/buses.js';
import { readLag } from '../../src/consumers/health.js';
import type { EventStore } from '../../src/index.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { kill9, reap } from '../support/processes.js';
import { scaled } from '../support/time.js';
import { openPgStore, sleep, waitFor } from './helpers.js';
import { startEndpoint } from './fixtures/endpoint.js';
import { createChaosTables, expectChaosOutcome } from './fixtures/chaos-check.js';
import { spawnWorker as spawnScript, type Child } from './fixtures/spawn-worker.js';

const EVENTS = Number(process.env.CHAOS_EVENTS ?? 20_000);
const STREAMS = 300;
const WORKER = fileURLToPath(new URL('./fixtures/chaos-worker.ts', import.meta.url));
const spawnWorker = (env: Record<string, string>, id: string, signal: AbortSignal): Promise<Child> =>
  spawnScript(WORKER, env, id, signal);

async function appendAll(
  store: EventStore,
  total: number,
  streams: number,
  durationMs: number,
  signal: AbortSignal,
): Promise<void> {
  // Spread appends over `durationMs` so workers are killed while events keep coming.
  const started = Date.now();
  let n = 0;
  let i = 0;
  const work = async () => {
    while (n < total) {
      signal.throwIfAborted();
      const count = Math.min(total - n, 1 + (i % 3));
      n += count;
      const stream = `chaos-${(i++ * 7919) % streams}`;
      await store.append(
        stream,
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
 * One chaos run. `signal` is the test's: aborted when vitest times the test out, so the run stops spawning and
 * waiting; the cleanup registered with onTestFinished (awaited by vitest, also on failure and timeout) reaps the
 * workers and deletes the schema and the NATS stream.
 */
async function chaosRun(mode: 'log' | 'bus' | 'nats', signal: AbortSignal): Promise<void> {
  const store = await openPgStore();
  // From NATS: a relay in this process publishes the log to JetStream; the workers subscribe. Killed workers leave
  // deliveries unacknowledged, which JetStream redelivers (duplicates), while the order guard keeps streams in order.
  const natsStream = `EL_CHAOS_${Date.now().toString(36).toUpperCase()}`;
  const relay =
    mode === 'nats'
      ? createRelay(store, {
          bus: natsBus({
            servers: SERVICES.nats.url,
            stream: natsStream,
            subjectPrefix: natsStream.toLowerCase(),
            storage: 'memory',
          }),
          name: natsStream,
          registry: null,
        })
      : undefined;
  await relay?.start();
  const q = quoteIdent(store.schema);
  await createChaosTables(store);
  const endpoint = await startEndpoint();
  const env = {
    PG_URL: SERVICES.postgres.url,
    SCHEMA: store.schema,
    MODE: mode,
    ENDPOINT: endpoint.url,
    NATS_URL: SERVICES.nats.url,
    NATS_STREAM: natsStream,
  };
  let generation = 0;
  const children: Child[] = [];
  onTestFinished(async () => {
    // Whatever happened (passed, failed, timed out): no worker process, stream or schema is left behind.
    await Promise.all(children.map((c) => reap(c.proc, scaled(10_000))));
    endpoint.server.close();
    await relay?.stop();
    if (mode === 'nats') await cleanupBus('nats', natsStream);
    await store.close();
    await dropSchema(store.schema);
  });
  children.push(
    ...(await Promise.all([
      spawnWorker(env, `w${generation++}`, signal),
      spawnWorker(env, `w${generation++}`, signal),
    ])),
  );
  await run();

  async function run(): Promise<void> {
    const started = Date.now();
    let kills = 0;
    let appending = true;
    const appended = appendAll(store, EVENTS, STREAMS, 12_000, signal).finally(() => (appending = false));
    const killer = (async () => {
      while (process.env.CHAOS_NO_KILL === undefined && (appending || kills < 6) && !signal.aborted) {
        await sleep(400 + Math.random() * 1200);
        const slot = Math.floor(Math.random() * children.length);
        await kill9(children[slot]!.proc);
        kills++;
        if (process.env.CHAOS_DEBUG)
          console.log(`+${Date.now() - started} ms: kill -9 ${children[slot]!.id}`);
        await sleep(50 + Math.random() * 300);
        children[slot] = await spawnWorker(env, `w${generation++}`, signal);
      }
    })();
    await appended;
    await killer;
    let lastReport = 0;
    await waitFor(
      'both consumers caught up',
      async () => {
        signal.throwIfAborted();
        const [t, n] = [
          await readLag(store.executor, q, 'chaos_totals'),
          await readLag(store.executor, q, 'chaos_notify'),
        ];
        if (process.env.CHAOS_DEBUG && Date.now() - lastReport > 2000) {
          lastReport = Date.now();
          console.log(
            `+${Date.now() - started} ms: behind totals ${t.eventsBehind} (${t.retrying} retrying), notify ${n.eventsBehind} (${n.retrying} retrying)`,
          );
        }
        return t.eventsBehind === 0 && n.eventsBehind === 0;
      },
      200_000, // scaled by waitFor
      200,
    );
    const elapsed = Date.now() - started;
    // A worker must stop within its stopTimeoutMs on SIGTERM (chaos-worker.ts); reap() escalates to SIGKILL after.
    await Promise.all(children.map((c) => reap(c.proc, scaled(15_000))));
    for (const c of children) expect(c.proc.exitCode, `worker ${c.id} exit code after SIGTERM`).toBe(0);

    const { repeated } = await expectChaosOutcome(store, endpoint, EVENTS);
    // A repeat is only possible for an effect in flight when its worker was killed (called, not yet journaled as done):
    // at most one per lane per kill. The endpoint's idempotency absorbed them.
    expect(repeated).toBeLessThanOrEqual(kills * 16);
    const [failures] = await store.executor.query<{ n: string }>(
      `select count(*)::text as n from ${q}.parked_events`,
    );
    console.log(
      `chaos ${mode}: ${EVENTS} events / ${STREAMS} streams, ${kills} kill -9, ${failures!.n} streams held back by a ` +
        `failure (resolved by retries), ${repeated} repeated effect calls (same key, absorbed by the endpoint), ` +
        `caught up in ${elapsed} ms`,
    );
  }
}

describe.skipIf(!pgAvailable())('chaos: duplicates, reordering, 5% failures, kill -9, two workers', () => {
  it(
    'from the log',
    async ({ signal }) => {
      await chaosRun('log', signal);
    },
    scaled(300_000),
  );
  it(
    'from a bus that duplicates and reorders (chaos transport)',
    async ({ signal }) => {
      await chaosRun('bus', signal);
    },
    scaled(300_000),
  );
  it.skipIf(!inject('services').nats)(
    'from NATS JetStream, through the relay',
    async ({ signal }) => {
      await chaosRun('nats', signal);
    },
    scaled(300_000),
  );
});
