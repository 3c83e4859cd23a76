import { Registry } from 'prom-client';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { embeddedBus } from '../../src/bus/embedded/index.js';
import { maxEventBytesFor } from '../../src/bus/limits.js';
import type { Bus, Delivery } from '../../src/bus/types.js';
import { rabbitmqBus } from '../../src/bus/rabbitmq/index.js';
import { redisBus } from '../../src/bus/redis/index.js';
import {
  ErrorCodes,
  EventTooLargeError,
  MessageTooLargeError,
  createEventStore,
  type EventStore,
} from '../../src/index.js';
import { relayParking } from '../../src/relay/parking-admin.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { getPartitionCount } from '../../src/store/settings.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, storeTargets, uniqueSchema, type StoreTarget } from '../support/stores.js';
import { BUS_SERVICE, cleanupBus, makeBus, uniqueBusId } from './support/buses.js';

const MiB = 1024 * 1024;
/**
 * Deadline of every wait. Generous: log readability is cluster-wide, so another test's open transaction on the
 * shared PostgreSQL delays the relay (never a hang: each wait fails with what it waited for).
 */
const WAIT_MS = 60_000;
vi.setConfig({ testTimeout: 240_000 });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function openStore(maxEventBytes?: number, target?: StoreTarget): Promise<EventStore> {
  const store = target
    ? await target.open({ maxEventBytes })
    : await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema(), maxEventBytes });
  cleanups.push(async () => {
    await store.close();
    if (store.driver === 'pg') await dropSchema(store.schema);
  });
  return store;
}

/** Polls until `check` holds; fails with `what` (never hangs) when it does not within `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Collects what reaches the bus, per stream, in delivery order. */
async function listen(bus: Bus, store: EventStore): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  const partitions = await getPartitionCount(store);
  await bus.connect({ partitions });
  const sub = await bus.subscribe({
    consumer: 'sub',
    partitions: Array.from({ length: partitions }, (_, i) => i),
    onMessage: async (d: Delivery) => {
      const list = seen.get(d.event.stream) ?? [];
      if (!list.includes(d.event.streamPosition)) list.push(d.event.streamPosition);
      seen.set(d.event.stream, list);
      await d.ack();
    },
  });
  cleanups.push(() => sub.close());
  return seen;
}

function started(relay: Relay): Relay {
  cleanups.push(() => relay.stop());
  return relay;
}

const blob = (bytes: number): { blob: string } => ({ blob: 'x'.repeat(bytes) });

describe.skipIf(!pgAvailable() || !inject('services').nats)('relay parking on NATS', () => {
  it('parks an event larger than max_payload, holds its stream behind it, lets other streams flow; skip releases in order', async () => {
    const store = await openStore(4 * MiB);
    const id = uniqueBusId();
    cleanups.push(() => cleanupBus('nats', id));
    const bus = makeBus('nats', id);
    cleanups.push(() => bus.close());
    const seen = await listen(bus, store);
    const big = `big-${id}`;
    const other = `other-${id}`;
    await store.append(big, [{ type: 'blob.stored', data: blob(1.5 * MiB) }]);
    await store.append(big, [
      { type: 'blob.noted', data: { n: 2 } },
      { type: 'blob.noted', data: { n: 3 } },
    ]);
    await store.append(other, [
      { type: 'other.noted', data: { n: 1 } },
      { type: 'other.noted', data: { n: 2 } },
    ]);
    const registry = new Registry();
    const relay = started(createRelay(store, { bus, registry, parkedPollMs: 100 }));
    await relay.start();

    // Before parking, the relay retried the batch holding the big event forever: its checkpoint never moved.
    await relay.caughtUp(WAIT_MS);
    await until('the other stream is published', () => seen.get(other)?.length === 2);
    await until('the big event is parked', async () => (await relay.stats()).parkedEvents === 1);
    let stats = await relay.stats();
    expect(stats).toMatchObject({ parkedEvents: 1, heldEvents: 2, backlogEvents: 0 });
    expect(seen.get(big)).toBeUndefined();

    const admin = relayParking(store);
    const [parked, ...held] = await admin.list({ status: ['parked', 'held'] });
    expect(parked).toMatchObject({
      relay: 'default',
      stream: big,
      streamPosition: 1,
      status: 'parked',
      errorCode: ErrorCodes.MESSAGE_TOO_LARGE,
    });
    expect(parked!.sizeBytes).toBeGreaterThan(1.5 * MiB);
    expect(parked!.limitBytes).toBe(bus.maxMessageBytes);
    expect(held.map((h) => [h.stream, h.streamPosition, h.status])).toEqual([
      [big, 2, 'held'],
      [big, 3, 'held'],
    ]);
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string): number | undefined =>
      metrics.find((m) => m.name === name)?.values.find((v) => v.labels.relay === 'default')?.value;
    expect(value('eventlane_relay_parked_events')).toBe(1);
    expect(value('eventlane_relay_held_events')).toBe(2);
    expect(value('eventlane_relay_parked_total')).toBe(1);

    // Later events of the held stream wait too; other streams keep flowing.
    await store.append(big, [{ type: 'blob.noted', data: { n: 4 } }]);
    await store.append(other, [{ type: 'other.noted', data: { n: 3 } }]);
    await until('the other stream goes on', () => seen.get(other)?.length === 3);
    await until('the new event is held', async () => (await relay.stats()).heldEvents === 3);
    expect(seen.get(big)).toBeUndefined();

    const skipped = await admin.skip(parked!.id, { by: 'test', reason: 'too large for NATS' });
    expect(skipped.status).toBe('skip');
    await until('the held events are published', () => seen.get(big)?.length === 3);
    expect(seen.get(big)).toEqual([2, 3, 4]);
    await store.append(big, [{ type: 'blob.noted', data: { n: 5 } }]);
    await until('the stream flows again', () => seen.get(big)?.length === 4);
    expect(seen.get(big)).toEqual([2, 3, 4, 5]);
    await until('nothing is parked or held', async () => {
      stats = await relay.stats();
      return stats.parkedEvents + stats.heldEvents === 0;
    });
    const [done] = await admin.list({ status: ['skipped'] });
    expect(done).toMatchObject({ id: parked!.id, status: 'skipped', skippedBy: 'test' });
  });

  it('the store refuses an event over the bus limit at append when configured with it', async () => {
    const id = uniqueBusId();
    cleanups.push(() => cleanupBus('nats', id));
    const bus = makeBus('nats', id);
    cleanups.push(() => bus.close());
    await bus.connect({ partitions: 16 });
    expect(bus.maxMessageBytes).toBeGreaterThan(0);
    expect(bus.maxMessageBytes).toBeLessThanOrEqual(MiB);
    const store = await openStore(maxEventBytesFor(bus));
    const stream = `big-${id}`;
    const error = await store
      .append(stream, [{ type: 'blob.stored', data: blob(1.5 * MiB) }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventTooLargeError);
    expect((error as EventTooLargeError).code).toBe(ErrorCodes.EVENT_TOO_LARGE);
    expect(await store.readStream(stream)).toEqual([]);
    // Just under the limit is accepted and published as is.
    const seen = await listen(bus, store);
    await store.append(stream, [{ type: 'blob.stored', data: blob(maxEventBytesFor(bus) - 20) }]);
    const relay = started(createRelay(store, { bus, registry: null }));
    await relay.start();
    await relay.caughtUp(WAIT_MS);
    await until('the event is published', () => seen.get(stream)?.length === 1);
    expect((await relay.stats()).parkedEvents).toBe(0);
  });
});

for (const target of storeTargets()) {
  describe.skipIf(!target.available)(
    `relay parking on a bus with a small limit (embedded, ${target.name})`,
    () => {
      it('retry publishes a parked event once the limit allows it, then the held ones in order', async () => {
        const store = await openStore(undefined, target);
        const small = embeddedBus({ maxMessageBytes: 8 * 1024 });
        const seen = await listen(small, store);
        await store.append('s-1', [
          { type: 'doc.stored', data: blob(20 * 1024) },
          { type: 'doc.noted', data: { n: 2 } },
        ]);
        await store.append('s-2', [{ type: 'doc.noted', data: { n: 1 } }]);
        const relay = started(createRelay(store, { bus: small, registry: null, parkedPollMs: 50 }));
        await relay.start();
        await until('s-2 is published', () => seen.get('s-2')?.length === 1);
        await until('s-1 is parked', async () => (await relay.stats()).parkedEvents === 1);
        const admin = relayParking(store);
        const [parked] = await admin.list();
        expect(parked).toMatchObject({ stream: 's-1', streamPosition: 1, status: 'parked', attempts: 1 });

        // Retried on the same small bus: parked again, with its attempt counted; the stream stays held.
        await admin.retry(parked!.id);
        await until('the retry is done', async () => (await admin.list())[0]?.attempts === 2);
        expect((await admin.list())[0]?.status).toBe('parked');
        expect(seen.get('s-1')).toBeUndefined();
        await expect(admin.retry('999999')).rejects.toMatchObject({
          code: ErrorCodes.RELAY_PARKED_NOT_FOUND,
        });
        await expect(admin.skip(parked!.id, { by: '' })).rejects.toMatchObject({
          code: ErrorCodes.INVALID_ARGUMENT,
        });

        // A relay on a bus with a larger limit publishes it on retry, then the held event, in order.
        await relay.stop();
        const large = embeddedBus({ maxMessageBytes: MiB });
        const seenLarge = await listen(large, store);
        const relay2 = started(createRelay(store, { bus: large, registry: null, parkedPollMs: 50 }));
        await relay2.start();
        await store.append('s-1', [{ type: 'doc.noted', data: { n: 3 } }]);
        await until('the new event is held', async () => (await relay2.stats()).heldEvents === 2);
        await admin.retry(parked!.id);
        await until('s-1 is published', () => seenLarge.get('s-1')?.length === 3);
        expect(seenLarge.get('s-1')).toEqual([1, 2, 3]);
        // The rows are marked done right after the bus acknowledged (subscribers may see the events first).
        await until('nothing is parked or held', async () => {
          const { parkedEvents, heldEvents } = await relay2.stats();
          return parkedEvents + heldEvents === 0;
        });
        expect((await admin.list({ status: ['published'] })).map((p) => p.streamPosition)).toEqual([1, 2, 3]);
      });

      it('stores a hostile skip note as text: a NUL in who, a megabyte of reason', async () => {
        const store = await openStore(undefined, target);
        const small = embeddedBus({ maxMessageBytes: 8 * 1024 });
        await store.append('s-1', [{ type: 'doc.stored', data: blob(20 * 1024) }]);
        const relay = started(createRelay(store, { bus: small, registry: null, parkedPollMs: 50 }));
        await relay.start();
        await until('s-1 is parked', async () => (await relay.stats()).parkedEvents === 1);
        const admin = relayParking(store);
        const [parked] = await admin.list();
        await expect(admin.skip(parked!.id, { by: 'ops', reason: 42 as never })).rejects.toMatchObject({
          code: ErrorCodes.INVALID_ARGUMENT,
        });
        await expect(admin.skip('9999999999999999999', { by: 'ops' })).rejects.toMatchObject({
          code: ErrorCodes.RELAY_PARKED_NOT_FOUND,
        });

        const skipped = await admin.skip(parked!.id, {
          by: 'ops\u0000team',
          reason: `${'r'.repeat(MiB)}\u0000`,
        });
        expect(skipped.skippedBy).toBe('ops\\0team');
        expect(skipped.skipReason).toMatch(/^r+… \[cut: \d+ bytes in all\]$/);
        expect(Buffer.byteLength(skipped.skipReason!, 'utf8')).toBeLessThan(64 * 1024);
        await until('the skip is done', async () => (await admin.list({ status: ['skipped'] })).length === 1);
      });
    },
  );
}

describe('buses refuse an oversized message up front', () => {
  for (const name of ['nats', 'rabbitmq', 'redis', 'embedded'] as const) {
    const service = BUS_SERVICE[name];
    it.skipIf(service !== undefined && !inject('services')[service])(
      `${name}: MessageTooLargeError naming the event, nothing sent`,
      async () => {
        const store = await openStore(4 * MiB);
        await store.append('big-1', [{ type: 'blob.stored', data: blob(1.5 * MiB) }]);
        const [event] = await store.readStream('big-1');
        const id = uniqueBusId();
        cleanups.push(() => cleanupBus(name, id));
        // NATS keeps the server's max_payload (1 MiB here); the others are configured small.
        const bus =
          name === 'nats'
            ? makeBus('nats', id)
            : name === 'rabbitmq'
              ? rabbitmqBus({
                  url: SERVICES.rabbitmq.url,
                  exchange: id,
                  consumers: ['sub'],
                  maxMessageBytes: MiB,
                })
              : name === 'redis'
                ? redisBus({ url: SERVICES.redis.url, keyPrefix: id, maxMessageBytes: MiB })
                : embeddedBus({ maxMessageBytes: MiB });
        cleanups.push(() => bus.close());
        await bus.connect({ partitions: 16 });
        expect(bus.maxMessageBytes).toBeLessThanOrEqual(MiB);
        const refused = await bus.publish([{ event: event!, partition: 3 }]).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(MessageTooLargeError);
        expect(refused).toMatchObject({
          code: ErrorCodes.MESSAGE_TOO_LARGE,
          eventId: event!.id,
          limitBytes: bus.maxMessageBytes,
        });
        expect((refused as MessageTooLargeError).sizeBytes).toBeGreaterThan(1.5 * MiB);
        // The bus still works for messages that fit.
        await store.append('small-1', [{ type: 'blob.noted', data: {} }]);
        const [small] = await store.readStream('small-1');
        await bus.publish([{ event: small!, partition: 3 }]);
      },
    );
  }
});

describe.skipIf(!pgAvailable())('relay parking of a refusal reported by publish()', () => {
  it('parks the event a custom bus refuses at publish, and goes on', async () => {
    const store = await openStore();
    const inner = embeddedBus({ maxMessageBytes: 8 * 1024 });
    // A bus that declares no limit: the relay only learns of the refusal from publish().
    const bus: Bus = { ...inner, maxMessageBytes: undefined };
    const seen = await listen(bus, store);
    await store.append('r-1', [
      { type: 'doc.stored', data: blob(20 * 1024) },
      { type: 'doc.noted', data: { n: 2 } },
    ]);
    await store.append('r-2', [{ type: 'doc.noted', data: { n: 1 } }]);
    const relay = started(createRelay(store, { bus, registry: null }));
    await relay.start();
    await relay.caughtUp(WAIT_MS);
    await until('r-2 is published', () => seen.get('r-2')?.length === 1);
    expect(await relay.stats()).toMatchObject({ parkedEvents: 1, heldEvents: 1 });
    expect(seen.get('r-1')).toBeUndefined();
    const [parked] = await relayParking(store).list();
    expect(parked).toMatchObject({
      stream: 'r-1',
      streamPosition: 1,
      errorCode: ErrorCodes.MESSAGE_TOO_LARGE,
    });
  });
});
