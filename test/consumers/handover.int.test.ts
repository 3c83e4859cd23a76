import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { natsBus } from '../../src/bus/nats/index.js';
import { redisBus } from '../../src/bus/redis/index.js';
import type { Bus } from '../../src/bus/types.js';
import {
  createRelay,
  createWorker,
  defineProjection,
  type EventStore,
  type Worker,
} from '../../src/index.js';
import { cleanupBus } from '../relay/support/buses.js';
import { SERVICES } from '../support/services.js';
import { dropSchema } from '../support/stores.js';
import { appendSpread, openPgStore, sleep, waitFor } from './helpers.js';

const EVENTS = 1500;
const STREAMS = 40;

const brokers: { name: 'nats' | 'redis'; bus: (id: string) => Bus }[] = [
  {
    name: 'nats',
    // Two deliveries at most: a nack or two hand-overs of one message would drop it for the consumer.
    bus: (id) =>
      natsBus({
        servers: SERVICES.nats.url,
        stream: id,
        subjectPrefix: id,
        storage: 'memory',
        maxDeliver: 2,
        ackWaitMs: 5000,
        maxInFlight: 16,
      }),
  },
  {
    name: 'redis',
    bus: (id) =>
      redisBus({
        url: SERVICES.redis.url,
        keyPrefix: id,
        maxDeliveries: 2,
        claimIdleMs: 1000,
        maxInFlight: 16,
      }),
  },
];

/**
 * Hand-overs and back-pressure under load with a bus that gives up on a message after two deliveries: several
 * workers of one group in one process, short leases, workers leaving and joining all the time, lanes of two events.
 * Nothing may be lost, nothing applied twice, and every stream applied in order.
 */
for (const broker of brokers) {
  describe.skipIf(!inject('services').postgres || !inject('services')[broker.name])(
    `hand-overs under load (${broker.name}, 2 deliveries at most)`,
    () => {
      const id = `ELHO${randomBytes(4).toString('hex')}`;
      let store: EventStore | undefined;
      afterAll(async () => {
        await cleanupBus(broker.name, id, ['handover_seen']);
        if (store) {
          await store.close();
          await dropSchema(store.schema);
        }
      });

      it(`${EVENTS} events over ${STREAMS} streams while workers come and go: nothing lost, once each, in order`, async () => {
        store = await openPgStore({ poolSize: 16 });
        const s = store;
        const q = `"${s.schema}"`;
        await s.executor.query(
          `create table ${q}.seen (stream text, position int, applied serial, primary key (stream, position))`,
        );
        const projection = defineProjection({
          name: 'handover_seen',
          handlers: {
            'item.added': async (e, { query }) => {
              // A slow handler, so that lanes fill up and hold deliveries while partitions move.
              await sleep(2);
              await query(`insert into ${q}.seen (stream, position) values ($1, $2)`, [
                e.stream,
                e.streamPosition,
              ]);
            },
          },
        });
        const errors: Error[] = [];
        let n = 0;
        const newWorker = (): Worker =>
          createWorker(s, {
            from: broker.bus(id),
            consumers: [projection],
            workerId: `w${n++}`,
            leaseTtlMs: 600,
            heartbeatMs: 100,
            parkedPollMs: 200,
            maxQueuedPerLane: 2,
            batchSize: 5,
            onError: (e) => errors.push(e),
          });
        const relay = createRelay(s, { bus: broker.bus(id), name: id, registry: null });
        await relay.start();
        const workers: Worker[] = [];
        for (let i = 0; i < 3; i++) {
          const w = newWorker();
          await w.start();
          workers.push(w);
        }
        let churning = true;
        let handOvers = 0;
        const churn = (async () => {
          while (churning) {
            await sleep(400);
            const old = workers.shift()!;
            await old.stop();
            const w = newWorker();
            await w.start();
            workers.push(w);
            handOvers++;
          }
        })();
        const count = async () =>
          Number((await s.executor.query<{ n: string }>(`select count(*)::text as n from ${q}.seen`))[0]!.n);
        try {
          // The load goes on while workers leave and join.
          for (let round = 0; round < 10; round++) {
            await appendSpread(s, EVENTS / 10, STREAMS, 'ho');
            await sleep(300);
          }
          await waitFor('ten worker changes', () => handOvers >= 10, 120_000);
          churning = false;
          await churn;
          await waitFor('every event applied', async () => (await count()) === EVENTS, 120_000, 200);
        } finally {
          churning = false;
          await churn.catch(() => undefined);
          for (const w of workers) await w.stop();
          await relay.stop();
        }
        expect(handOvers).toBeGreaterThan(3);
        // Primary key: nothing applied twice. Contiguous and in order: per stream, positions by applying order.
        const gaps = await s.executor.query(
          `select stream from ${q}.seen group by stream having max(position) <> count(*)`,
        );
        expect(gaps).toEqual([]);
        const disorder = await s.executor.query(
          `select stream from (select stream, position, row_number() over (partition by stream order by applied) as k
             from ${q}.seen) x where position <> k`,
        );
        expect(disorder).toEqual([]);
        const codes = new Map<string, number>();
        for (const e of errors) {
          const code = (e as { code?: string }).code ?? e.message.slice(0, 60);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
        console.log(
          `[handover ${broker.name}] ${EVENTS} events, ${handOvers} worker changes, errors: ${JSON.stringify([...codes])}`,
        );
      }, 300_000);
    },
  );
}
