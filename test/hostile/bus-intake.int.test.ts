import { Registry } from 'prom-client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeCloudEvent, toCloudEvent } from '../../src/bus/cloudevents.js';
import type { BusRejection } from '../../src/bus/intake.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { rabbitmqBus } from '../../src/bus/rabbitmq/index.js';
import { redisBus } from '../../src/bus/redis/index.js';
import type { Bus } from '../../src/bus/types.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { uuidv7 } from '../../src/events/ids.js';
import { SERVICES } from '../support/services.js';
import { cleanupBus, uniqueBusId } from '../relay/support/buses.js';
import { natsRaw, rabbitmqRaw, redisRaw, type RawBroker } from './support/raw.js';

/*
 * Hostile input on the bus: messages the relay never publishes, put straight on a partition's subject, queue or
 * stream between valid events. For each: the process lives (vitest fails on an unhandled rejection), the message
 * is reported and counted, it is found in the broker's dead-letter place, and every valid event around it is
 * delivered exactly once, in order; the subscription still delivers afterwards.
 */

const services = inject('services');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const MAX_INCOMING = 64 * 1024;
let globalPosition = 0n;

function validEvent(stream: string, position: number): StoredEvent {
  globalPosition++;
  return {
    id: uuidv7(),
    type: 'order.noted',
    version: 1,
    stream,
    streamPosition: position,
    globalPosition,
    checkpoint: `${globalPosition}:${globalPosition}`,
    data: { position },
    metadata: {},
    occurredAt: new Date('2026-01-02T03:04:05.000Z'),
    recordedAt: new Date('2026-01-02T03:04:06.000Z'),
  };
}

/** A valid wire event with some attributes replaced: each is one way a forged message can be wrong. */
function forged(changes: Record<string, unknown>): string {
  const ce: Record<string, unknown> = { ...toCloudEvent(validEvent('forged-1', 1), { partition: 0 }) };
  Object.assign(ce, changes);
  return JSON.stringify(ce);
}

const HOSTILE: { name: string; body: Buffer | string; reason: string }[] = [
  {
    name: 'garbage bytes',
    body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x7f, 0xc3]),
    reason: 'not_json',
  },
  { name: 'an empty message', body: '', reason: 'not_json' },
  { name: 'text that is not JSON', body: 'hello, consumer', reason: 'not_json' },
  { name: 'JSON that is not an object', body: '[1,2,3]', reason: 'not_cloudevent' },
  { name: 'a JSON object that is not a CloudEvent', body: '{"hello":"world"}', reason: 'not_cloudevent' },
  { name: 'another CloudEvents version', body: forged({ specversion: '0.3' }), reason: 'not_cloudevent' },
  { name: 'a non-UUID id', body: forged({ id: 'not-a-uuid' }), reason: 'invalid_attribute' },
  { name: 'an empty subject', body: forged({ subject: '' }), reason: 'invalid_attribute' },
  { name: 'a NUL in the subject', body: forged({ subject: 'a\u0000b' }), reason: 'invalid_attribute' },
  { name: '__proto__ as type', body: forged({ type: '__proto__' }), reason: 'invalid_attribute' },
  {
    name: 'a sequence that is Infinity',
    body: forged({ sequence: '9'.repeat(400) }),
    reason: 'invalid_attribute',
  },
  { name: 'a zero dataversion', body: forged({ dataversion: '0' }), reason: 'invalid_attribute' },
  { name: 'a zero global position', body: forged({ elglobalposition: '0' }), reason: 'invalid_attribute' },
  { name: 'null metadata', body: forged({ elmetadata: 'null' }), reason: 'invalid_attribute' },
  { name: 'data with a NUL', body: forged({ data: 'a\u0000' }), reason: 'invalid_attribute' },
  { name: 'a time that is not a time', body: forged({ time: 'yesterday' }), reason: 'invalid_attribute' },
  {
    name: 'a checkpoint that does not parse',
    body: forged({ elcheckpoint: 'x' }),
    reason: 'invalid_attribute',
  },
  {
    name: 'an oversized message',
    body: forged({ data: { blob: 'x'.repeat(MAX_INCOMING + 1) } }),
    reason: 'too_large',
  },
];

async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rejectedCount(registry: Registry, bus: string): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('eventlane_bus_rejected_total')?.get();
  const counts: Record<string, number> = {};
  for (const v of metric?.values ?? []) if (v.labels.bus === bus) counts[String(v.labels.reason)] = v.value;
  return counts;
}

type Kind = 'nats' | 'rabbitmq' | 'redis';

function busFor(kind: Kind, id: string, registry: Registry, onReject: (r: BusRejection) => void): Bus {
  const intake = { registry, onReject, maxIncomingBytes: MAX_INCOMING };
  switch (kind) {
    case 'nats':
      return natsBus({ servers: SERVICES.nats.url, stream: id, subjectPrefix: id, ...intake });
    case 'rabbitmq':
      return rabbitmqBus({ url: SERVICES.rabbitmq.url, exchange: id, consumers: ['sub'], ...intake });
    case 'redis':
      return redisBus({ url: SERVICES.redis.url, keyPrefix: id, claimIdleMs: 400, ...intake });
  }
}

async function rawFor(kind: Kind, id: string): Promise<RawBroker> {
  switch (kind) {
    case 'nats':
      return natsRaw(id);
    case 'rabbitmq':
      return rabbitmqRaw(id);
    case 'redis':
      return redisRaw(id);
  }
}

const text = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('utf8'));

for (const kind of ['nats', 'rabbitmq', 'redis'] as const) {
  describe.skipIf(!services[kind])(`hostile messages on ${kind}`, () => {
    it('sets each one aside, reports and counts it, and delivers every valid event around it once, in order', async () => {
      const id = uniqueBusId();
      const registry = new Registry();
      const fromBus: BusRejection[] = [];
      const fromSubscription: BusRejection[] = [];
      const bus = busFor(kind, id, registry, (r) => fromBus.push(r));
      const raw = await rawFor(kind, id);
      cleanups.push(async () => {
        await bus.close().catch(() => undefined);
        await raw.close();
        await cleanupBus(kind, id);
      });
      await bus.connect({ partitions: 1 });
      const received: StoredEvent[] = [];
      await bus.subscribe({
        consumer: 'sub',
        partitions: [0],
        onMessage: async (d) => {
          received.push(d.event);
          await d.ack();
        },
        onReject: (r) => {
          fromSubscription.push(r);
          throw new Error('a failing callback must not stop the consumer');
        },
      });

      const valid: StoredEvent[] = [];
      const publishValid = async (): Promise<void> => {
        const e = validEvent('order-1', valid.length + 1);
        valid.push(e);
        await bus.publish([{ event: e, partition: 0, payload: encodeCloudEvent(e, { partition: 0 }) }]);
      };
      for (const h of HOSTILE) {
        await publishValid();
        await raw.publish(0, h.body);
      }
      await publishValid();

      await waitUntil('every valid event', () => received.length >= valid.length);
      await waitUntil('every rejection', () => fromBus.length >= HOSTILE.length);
      expect(received.map((e) => e.id)).toEqual(valid.map((e) => e.id));
      expect(received.map((e) => e.streamPosition)).toEqual(valid.map((_, i) => i + 1));

      // Reported once each, in the order they came, with the typed error, partition and consumer.
      expect(fromBus.map((r) => r.reason)).toEqual(HOSTILE.map((h) => h.reason));
      expect(fromSubscription.map((r) => r.reason)).toEqual(HOSTILE.map((h) => h.reason));
      for (const r of fromBus) {
        expect(r).toMatchObject({ bus: kind, consumer: 'sub', partition: 0 });
        expect(r.error.code).toBe('EVENTLANE_INVALID_BUS_MESSAGE');
        expect(r.preview.length).toBeLessThanOrEqual(300);
        expect(r.deadLetter).toBeTruthy();
      }
      const nul = fromBus[HOSTILE.findIndex((h) => h.name === 'a NUL in the subject')]!;
      expect(nul.error.attribute).toBe('subject');
      expect(nul.preview).not.toContain('\u0000');

      const counts = await rejectedCount(registry, kind);
      const expected: Record<string, number> = {};
      for (const h of HOSTILE) expected[h.reason] = (expected[h.reason] ?? 0) + 1;
      expect(counts).toEqual(expected);

      // Set aside in the broker's dead-letter place, with the reason and the original bytes.
      let dead = await raw.deadLetters('sub');
      await waitUntil(
        'the dead letters',
        async () => (dead = await raw.deadLetters('sub')).length >= HOSTILE.length,
      );
      expect(dead.map((d) => d.reason)).toEqual(HOSTILE.map((h) => h.reason));
      expect(dead.map((d) => text(d.body))).toEqual(HOSTILE.map((h) => text(h.body)));

      // Still consuming: one more valid event arrives, and nothing was delivered twice.
      await publishValid();
      await waitUntil('the event after', () => received.length >= valid.length);
      expect(received.map((e) => e.id)).toEqual(valid.map((e) => e.id));
      expect(await raw.deadLetters('sub')).toHaveLength(HOSTILE.length);
    });

    it('with deadLetter off, acknowledges a bad message without a copy and goes on', async () => {
      const id = uniqueBusId();
      const registry = new Registry();
      const rejected: BusRejection[] = [];
      const bus =
        kind === 'nats'
          ? natsBus({
              servers: SERVICES.nats.url,
              stream: id,
              subjectPrefix: id,
              registry,
              deadLetter: false,
            })
          : kind === 'rabbitmq'
            ? rabbitmqBus({
                url: SERVICES.rabbitmq.url,
                exchange: id,
                consumers: ['sub'],
                registry,
                deadLetter: false,
              })
            : redisBus({ url: SERVICES.redis.url, keyPrefix: id, registry, deadLetter: false });
      const raw = await rawFor(kind, id);
      cleanups.push(async () => {
        await bus.close().catch(() => undefined);
        await raw.close();
        await cleanupBus(kind, id);
      });
      await bus.connect({ partitions: 1 });
      const received: string[] = [];
      await bus.subscribe({
        consumer: 'sub',
        partitions: [0],
        onMessage: async (d) => {
          received.push(d.event.id);
          await d.ack();
        },
        onReject: (r) => rejected.push(r),
      });
      await raw.publish(0, 'not json');
      const e = validEvent('order-2', 1);
      await bus.publish([{ event: e, partition: 0 }]);
      await waitUntil('the valid event', () => received.length >= 1);
      await waitUntil('the rejection', () => rejected.length >= 1);
      expect(received).toEqual([e.id]);
      expect(rejected[0]).toMatchObject({ reason: 'not_json', deadLetter: undefined });
      expect(await rejectedCount(registry, kind)).toEqual({ not_json: 1 });
      expect(await raw.deadLetters('sub')).toEqual([]);
    });
  });
}

describe.skipIf(!services.redis)('hostile messages on redis, on the auto-claim path', () => {
  it('survives bad entries another instance left pending, and delivers the rest of the claimed batch', async () => {
    const id = uniqueBusId();
    const raw = await redisRaw(id);
    const registry = new Registry();
    const rejected: BusRejection[] = [];
    const bus = redisBus({
      url: SERVICES.redis.url,
      keyPrefix: id,
      claimIdleMs: 200,
      registry,
      onReject: (r) => rejected.push(r),
    });
    cleanups.push(async () => {
      await bus.close().catch(() => undefined);
      await raw.close();
      await cleanupBus('redis', id);
    });
    const key = `${id}:p0`;
    await raw.redis.call('XGROUP', 'CREATE', key, 'sub', '0', 'MKSTREAM');
    const valid = [validEvent('order-3', 1), validEvent('order-3', 2), validEvent('order-3', 3)];
    await raw.publish(0, encodeCloudEvent(valid[0]!));
    await raw.publish(0, 'garbage');
    await raw.publish(0, encodeCloudEvent(valid[1]!));
    await raw.redis.xadd(key, '*', 'foreign', 'entry without ce');
    await raw.publish(0, forged({ id: 'nope' }));
    await raw.publish(0, encodeCloudEvent(valid[2]!));
    // An instance that read everything and died: all six entries are pending for it.
    await raw.redis.call('XREADGROUP', 'GROUP', 'sub', 'ghost', 'COUNT', '100', 'STREAMS', key, '>');

    await bus.connect({ partitions: 1 });
    const received: string[] = [];
    await bus.subscribe({
      consumer: 'sub',
      partitions: [0],
      onMessage: async (d) => {
        received.push(d.event.id);
        await d.ack();
      },
    });
    await waitUntil('the claimed valid events', () => received.length >= 3);
    await waitUntil('the claimed bad entries', () => rejected.length >= 3);
    expect(received).toEqual(valid.map((e) => e.id));
    expect(rejected.map((r) => r.reason)).toEqual(['not_json', 'not_cloudevent', 'invalid_attribute']);
    const dead = await raw.deadLetters('sub');
    expect(dead.map((d) => d.reason)).toEqual(['not_json', 'not_cloudevent', 'invalid_attribute']);
    await waitUntil('nothing pending', async () => {
      const summary = (await raw.redis.call('XPENDING', key, 'sub')) as [number, ...unknown[]];
      return Number(summary[0]) === 0;
    });
  });
});
