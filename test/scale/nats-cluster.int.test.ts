import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createRelay, type EventStore } from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { readLag } from '../../src/consumers/health.js';
import { quoteIdent } from '../../src/store/names.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable } from '../support/stores.js';
import { reap } from '../support/processes.js';
import { scaled } from '../support/time.js';
import { natsServerAvailable, startNatsCluster, type NatsCluster } from '../support/nats-cluster.js';
import { openPgStore, sleep, waitFor } from '../consumers/helpers.js';
import { startEndpoint } from '../consumers/fixtures/endpoint.js';
import { createChaosTables, expectChaosOutcome } from '../consumers/fixtures/chaos-check.js';
import { spawnWorker, type Child } from '../consumers/fixtures/spawn-worker.js';

const EVENTS = Number(process.env.CLUSTER_EVENTS ?? 100_000);
const STREAMS = 1000;
const WORKER = fileURLToPath(new URL('../consumers/fixtures/chaos-worker.ts', import.meta.url));

/** Appends `total` events over `streams` streams, ten per append, from four writers. */
async function appendAll(store: EventStore, total: number, signal: AbortSignal): Promise<void> {
  let n = 0;
  let i = 0;
  const work = async () => {
    while (n < total) {
      signal.throwIfAborted();
      const count = Math.min(total - n, 10);
      n += count;
      const stream = `cluster-${(i++ * 7919) % STREAMS}`;
      await store.append(
        stream,
        Array.from({ length: count }, () => ({
          type: 'item.added',
          data: { amount: 1 + Math.floor(Math.random() * 100) },
        })),
      );
    }
  };
  await Promise.all(Array.from({ length: 4 }, work));
}

async function storedMessages(cluster: NatsCluster, stream: string): Promise<number> {
  const nc = await connect({ servers: cluster.urls, timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    return (await jsm.streams.info(stream)).state.messages;
  } catch {
    return -1; // between leaders: no answer for a moment
  } finally {
    await nc.close();
  }
}

/**
 * The relay publishes to a stream replicated on three NATS nodes (R3, file storage) while two worker processes
 * consume it; the stream's leader is killed with SIGKILL in the middle of the run and started again. Nothing may be
 * lost, every stream must be applied in order, no effect may reach the endpoint twice, and the relay and the workers
 * must carry on by themselves (no restart of theirs).
 */
describe.skipIf(!pgAvailable() || !natsServerAvailable())('a NATS JetStream cluster (3 nodes, R3)', () => {
  let cluster: NatsCluster | undefined;
  beforeAll(async () => {
    cluster = await startNatsCluster();
  }, scaled(90_000));
  afterAll(async () => {
    await cluster?.stop();
  });

  it(
    `${EVENTS} events: the stream leader is killed (-9) and restarted mid-run; nothing lost, in order, effects once`,
    async ({ signal }) => {
      const c = cluster!;
      const store = await openPgStore({ poolSize: 8 });
      const q = quoteIdent(store.schema);
      const natsStream = `EL_R3_${Date.now().toString(36).toUpperCase()}`;
      const bus = natsBus({
        servers: c.urls,
        stream: natsStream,
        subjectPrefix: natsStream.toLowerCase(),
        storage: 'file',
        replicas: 3,
        // A leader election takes a few seconds: a publish waiting on it fails and the batch is published again.
        publishTimeoutMs: 3000,
      });
      const relay = createRelay(store, { bus, name: natsStream, registry: null, batchSize: 500 });
      await createChaosTables(store);
      const endpoint = await startEndpoint();
      const children: Child[] = [];
      onTestFinished(async () => {
        await Promise.all(children.map((w) => reap(w.proc, scaled(10_000))));
        endpoint.server.close();
        await relay.stop();
        await store.close();
        await dropSchema(store.schema);
      });
      await relay.start();
      const env = {
        PG_URL: SERVICES.postgres.url,
        SCHEMA: store.schema,
        MODE: 'nats',
        ENDPOINT: endpoint.url,
        NATS_URL: c.urls.join(','),
        NATS_STREAM: natsStream,
        NATS_STORAGE: 'file',
        NATS_REPLICAS: '3',
        CHAOS_FAIL_RATE: '0.01',
        // No worker dies here: a lease long enough that a starved machine does not hand partitions over mid-effect.
        LEASE_TTL_MS: '10000',
        // Redelivery only for what a failover left unacknowledged, not for deliveries waiting their turn in a lane.
        NATS_ACK_WAIT_MS: '30000',
        // A connection for each of the 16 partitions' two lanes, plus the intake's.
        POOL_SIZE: '24',
      };
      children.push(
        ...(await Promise.all([
          spawnWorker(WORKER, env, 'r3-a', signal),
          spawnWorker(WORKER, env, 'r3-b', signal),
        ])),
      );

      const started = Date.now();
      const appended = appendAll(store, EVENTS, signal);
      // Kill the leader once a third of the events are on the stream, with publishing and consuming in full swing.
      await waitFor(
        'a third of the events on the stream',
        async () => (await storedMessages(c, natsStream)) >= EVENTS / 3,
        300_000,
        200,
      );
      const leader = await c.leaderOf(natsStream);
      await c.kill9(leader);
      const killedAt = Date.now();
      await waitFor(
        'a new stream leader',
        async () => (await c.leaderOf(natsStream).catch(() => leader)) !== leader,
        60_000,
        200,
      );
      const electedMs = Date.now() - killedAt;
      await sleep(2000);
      await c.restart(leader);
      await appended;
      const appendedMs = Date.now() - started;

      await waitFor(
        'the relay and both consumers caught up',
        async () => {
          signal.throwIfAborted();
          const [t, n] = [
            await readLag(store.executor, q, 'chaos_totals'),
            await readLag(store.executor, q, 'chaos_notify'),
          ];
          if (process.env.CLUSTER_DEBUG) {
            console.log(
              `+${Date.now() - started} ms: stream ${await storedMessages(c, natsStream)}, behind totals ` +
                `${t.eventsBehind}, notify ${n.eventsBehind}`,
            );
          }
          return t.eventsBehind === 0 && n.eventsBehind === 0;
        },
        600_000,
        500,
      );
      const elapsed = Date.now() - started;
      await Promise.all(children.map((w) => reap(w.proc, scaled(15_000))));
      for (const w of children) expect(w.proc.exitCode, `worker ${w.id} exit code after SIGTERM`).toBe(0);

      // Nothing lost, every stream in order, each effect journaled once and its key at the endpoint. A key can
      // arrive twice when the step after the call (recording it as done) failed — on a starved machine, a pool that
      // could not connect in time — and the retry found it still pending; the key makes that second call harmless.
      const { repeated } = await expectChaosOutcome(store, endpoint, EVENTS);
      // The relay went on by itself: everything is on the stream once (the event id de-duplicates republishes).
      await waitFor(
        'the stream to hold every event',
        async () => (await storedMessages(c, natsStream)) === EVENTS,
      );
      console.log(
        `nats R3: ${EVENTS} events, leader ${leader.name} killed -9 at a third, new leader in ${electedMs} ms, ` +
          `restarted after 2 s; appended in ${appendedMs} ms, all applied in ${elapsed} ms; ${repeated} keys ` +
          `called twice (absorbed by the endpoint)`,
      );
    },
    scaled(900_000),
  );
});
