import { randomUUID } from 'node:crypto';
import { connect as natsConnect } from '@nats-io/transport-node';
import { encodeCloudEvent } from '../../src/bus/cloudevents.js';
import { SERVICES } from '../support/services.js';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../src/bus/partition.js';
import {
  createRelay,
  createWorker,
  defineProjection,
  ErrorCodes,
  isEventlaneError,
  type DeliveryRejectedError,
  type EventStore,
  type StoredEvent,
} from '../../src/index.js';
import { openPgStore, waitFor } from '../consumers/helpers.js';
import { BUS_SERVICE, cleanupBus, makeBus, uniqueBusId, type BusName } from '../relay/support/buses.js';
import { dropSchema } from '../support/stores.js';

const CONSUMER = 'forged_seen';

function forged(stream: string, position: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: randomUUID(),
    type: 'item.added',
    version: 1,
    stream,
    streamPosition: position,
    globalPosition: 999_999n,
    checkpoint: '0:999999',
    data: { amount: 666 },
    metadata: {},
    occurredAt: new Date(),
    recordedAt: new Date(),
    ...over,
  };
}

/**
 * Messages published straight to the bus that the store never wrote, between real events published by the relay.
 * The bus is a notification, the store is the truth: the worker applies every real event once and in order, and
 * reports and sets aside every forged one.
 */
for (const name of ['nats', 'rabbitmq', 'redis'] as BusName[]) {
  describe.skipIf(!inject('services').postgres || !inject('services')[BUS_SERVICE[name]!])(
    `forged bus messages (${name})`,
    () => {
      const id = uniqueBusId();
      let store: EventStore | undefined;
      afterAll(async () => {
        await cleanupBus(name, id, [CONSUMER]);
        if (store) {
          await store.close();
          await dropSchema(store.schema);
        }
      });

      it('applies every real event exactly once and in order, rejects and counts the forged ones', async () => {
        store = await openPgStore();
        const s = store;
        const q = `"${s.schema}"`;
        await s.executor.query(
          `create table ${q}.seen (stream text, position int, id uuid, data jsonb, primary key (stream, position))`,
        );
        const projection = defineProjection({
          name: CONSUMER,
          handlers: {
            'item.added': async (e, { query }) => {
              await query(`insert into ${q}.seen values ($1, $2, $3, $4)`, [
                e.stream,
                e.streamPosition,
                e.id,
                JSON.stringify(e.data),
              ]);
            },
          },
        });
        const rejected: DeliveryRejectedError[] = [];
        const other: Error[] = [];
        const relay = createRelay(s, {
          bus: makeBus(name, id, undefined, [CONSUMER]),
          name: id,
          registry: null,
        });
        const bus = makeBus(name, id, undefined, [CONSUMER]);
        const worker = createWorker(s, {
          from: bus,
          consumers: [projection],
          onError: (e) => {
            if (isEventlaneError(e, ErrorCodes.DELIVERY_REJECTED)) rejected.push(e as DeliveryRejectedError);
            else other.push(e);
          },
        });
        const count = async () =>
          Number((await s.executor.query<{ n: string }>(`select count(*)::text as n from ${q}.seen`))[0]!.n);
        const partition = (stream: string) => partitionOf(stream, 16);
        const publish = async (...events: StoredEvent[]): Promise<void> => {
          if (name !== 'nats') {
            await relay.bus.publish(events.map((event) => ({ event, partition: partition(event.stream) })));
            return;
          }
          // Plain NATS publishes: the adapter's Nats-Msg-Id (the event id) would have JetStream drop a second message
          // with a real event's id as a duplicate, and a hostile producer need not set it.
          const nc = await natsConnect({ servers: SERVICES.nats.url });
          try {
            for (const event of events) {
              const p = partition(event.stream);
              nc.publish(`${id}.p${p}`, encodeCloudEvent(event, { partition: p }));
            }
            await nc.flush();
          } finally {
            await nc.close();
          }
        };
        await relay.start();
        await worker.start();
        try {
          await s.append(
            'h-1',
            [1, 2, 3].map((amount) => ({ type: 'item.added', data: { amount } })),
          );
          await s.append('h-2', [{ type: 'item.added', data: { amount: 1 } }]);
          await waitFor('the first real events applied', async () => (await count()) === 4, 30_000);
          const real = await s.readStream('h-1');
          const future = forged('h-1', 4); // the store will hold another event at position 4
          const unknownAtExisting = forged('h-2', 1); // position 1 exists, with another id
          const otherContent = { ...real[1]!, data: { amount: 666 } }; // a real id with other data
          const wrongPosition = { ...real[0]!, streamPosition: 5 }; // a real id claimed at another position
          await publish(future, unknownAtExisting);
          await s.append('h-1', [{ type: 'item.added', data: { amount: 4 } }]);
          await publish(otherContent, wrongPosition, forged('h-3', 7));
          await s.append('h-1', [{ type: 'item.added', data: { amount: 5 } }]);
          await s.append(
            'h-3',
            [1, 2].map((amount) => ({ type: 'item.added', data: { amount } })),
          );
          await s.append('h-2', [{ type: 'item.added', data: { amount: 2 } }]);
          await waitFor('every real event applied', async () => (await count()) === 9, 30_000);
          await waitFor('every forged message rejected', () => rejected.length >= 5, 30_000);

          const rows = await s.executor.query<{
            stream: string;
            position: number;
            id: string;
            data: unknown;
          }>(`select stream, position, id::text as id, data from ${q}.seen order by stream, position`);
          const stored = [
            ...(await s.readStream('h-1')),
            ...(await s.readStream('h-2')),
            ...(await s.readStream('h-3')),
          ];
          expect(rows).toEqual(
            stored.map((e) => ({ stream: e.stream, position: e.streamPosition, id: e.id, data: e.data })),
          );
          expect(rejected.map((e) => e.reason).sort()).toEqual([
            'other_content',
            'unknown_event',
            'unknown_event',
            'unknown_event',
            'wrong_position',
          ]);
          const metric = await worker.metrics.getSingleMetricAsString('eventlane_consumer_rejected_total');
          expect(metric).toContain(`consumer="${CONSUMER}",reason="unknown_event"} 3`);
          expect(metric).toContain(`consumer="${CONSUMER}",reason="other_content"} 1`);
          expect(metric).toContain(`consumer="${CONSUMER}",reason="wrong_position"} 1`);
          expect(other).toEqual([]);
          expect((await worker.health())[0]!.eventsBehind).toBe(0);
        } finally {
          await worker.stop();
          await relay.stop();
          await relay.bus.close().catch(() => undefined);
          await bus.close().catch(() => undefined);
        }
      }, 150_000);
    },
  );
}
