import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Bus, Delivery } from '../../../src/bus/types.js';
import { createEventStore, isEventlaneError, type EventStore } from '../../../src/index.js';
import { createRelay } from '../../../src/relay/relay.js';
import { dropSchema, uniqueSchema } from '../../support/stores.js';
import { SERVICES } from '../../support/services.js';
import { scaled } from '../../support/time.js';
import {
  BUS_SERVICE,
  cleanupBus,
  hostPort,
  makeBus,
  readWholeLog,
  uniqueBusId,
  type BusName,
} from './buses.js';
import { spawnRelay } from './child.js';
import { startTcpProxy } from './tcp-proxy.js';

/** What one subscriber saw: deliveries by event id, and first-delivery positions per stream in arrival order. */
export class Received {
  readonly ids = new Set<string>();
  duplicates = 0;
  readonly positions = new Map<string, number[]>();
  outOfOrder = 0;

  add(d: Delivery): void {
    if (this.ids.has(d.event.id)) {
      this.duplicates++;
      return;
    }
    this.ids.add(d.event.id);
    const list = this.positions.get(d.event.stream) ?? [];
    if (list.length > 0 && list[list.length - 1]! + 1 !== d.event.streamPosition) this.outOfOrder++;
    list.push(d.event.streamPosition);
    this.positions.set(d.event.stream, list);
  }

  /** Waits until `count` distinct events arrived or `timeoutMs` (scaled by EVENTLANE_TEST_TIME_SCALE) passed. */
  async waitFor(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + scaled(timeoutMs);
    while (this.ids.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }
}

const ALL = Array.from({ length: 16 }, (_, i) => i);

async function subscribe(bus: Bus, received: Received): Promise<void> {
  await bus.connect({ partitions: 16 });
  await bus.subscribe({
    consumer: 'sub',
    partitions: ALL,
    onMessage: async (d) => {
      received.add(d);
      await d.ack();
    },
  });
}

/** Appends `perStream` events to each of `streams` streams, in batches, from 8 concurrent writers. */
export async function appendLoad(
  store: EventStore,
  streams: number,
  perStream: number,
  batch = 25,
  prefix = 'order',
): Promise<void> {
  const jobs: { stream: string; n: number }[] = [];
  for (let round = 0; round < perStream; round += batch) {
    for (let s = 0; s < streams; s++)
      jobs.push({ stream: `${prefix}-${s}`, n: Math.min(batch, perStream - round) });
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        await store.append(
          job.stream,
          Array.from({ length: job.n }, (_, k) => ({ type: 'order.noted', data: { k } })),
        );
      }
    }),
  );
}

/** The relay suite against one real broker. */
export function busSuite(
  name: Exclude<BusName, 'embedded'>,
  load: { streams: number; perStream: number },
): void {
  const services = inject('services');
  const available = services.postgres && services[BUS_SERVICE[name]!];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function setup(): Promise<{ store: EventStore; id: string }> {
    const store = await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema() });
    const id = uniqueBusId();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
      await cleanupBus(name, id);
    });
    return { store, id };
  }

  describe.skipIf(!available)(`relay to ${name}`, () => {
    const total = load.streams * load.perStream;
    it(`delivers ${total} events over ${load.streams} streams: every one, per stream in order`, async () => {
      const { store, id } = await setup();
      const received = new Received();
      const sub = makeBus(name, id);
      cleanups.push(() => sub.close());
      await subscribe(sub, received);
      const relay = createRelay(store, { bus: makeBus(name, id), registry: null });
      cleanups.push(async () => {
        await relay.stop();
        await relay.bus.close();
      });
      await relay.start();
      const t0 = performance.now();
      await appendLoad(store, load.streams, load.perStream);
      const appended = performance.now();
      await relay.caughtUp(scaled(120_000));
      await received.waitFor(total, 60_000);
      const done = performance.now();
      const early = await relay.stats();
      console.log(`[${name}] relay errors during the run: ${early.errors} ${early.lastError ?? ''}`);
      console.log(
        `[${name}] ${total} events: appended in ${Math.round(appended - t0)} ms, all received after ${Math.round(done - t0)} ms; ` +
          `duplicates ${received.duplicates}`,
      );
      expect(received.ids.size).toBe(total);
      expect(received.positions.size).toBe(load.streams);
      for (const list of received.positions.values()) expect(list.length).toBe(load.perStream);
      // The relay's promise: each stream arrives in log order. The log's own order per stream is checked apart:
      // two appends to one stream whose transaction ids are assigned in the opposite order of their stream lock
      // come out of the commit-order read swapped (a store issue, reported; consumers guard order anyway).
      const logOrder = new Map<string, number[]>();
      for (const e of await readWholeLog(store)) {
        const list = logOrder.get(e.stream) ?? [];
        list.push(e.streamPosition);
        logOrder.set(e.stream, list);
      }
      let logInversions = 0;
      for (const [stream, list] of logOrder) {
        expect(received.positions.get(stream)).toEqual(list);
        for (let i = 1; i < list.length; i++) if (list[i]! < list[i - 1]!) logInversions++;
      }
      console.log(
        `[${name}] per-stream order: subscriber = log order for all ${load.streams} streams; inversions in the log itself: ${logInversions}`,
      );
      expect(received.duplicates).toBe(0);
      const stats = await relay.stats();
      expect(stats.backlogEvents).toBe(0);
      expect(stats.errors).toBe(0);
    });

    it('loses nothing when the relay process is killed with kill -9 at 5 random moments', async () => {
      const { store, id } = await setup();
      const received = new Received();
      const sub = makeBus(name, id);
      cleanups.push(() => sub.close());
      await subscribe(sub, received);
      const streams = 100;
      const perStream = 100;
      const writing = appendLoad(store, streams, perStream, 5, 'crash');
      const env = {
        SCHEMA: store.schema,
        BUS: name,
        BUS_ID: id,
        RELAY_NAME: 'crashy',
        LEASE_MS: '1000',
        BATCH_SIZE: '200',
      };
      let kills = 0;
      for (let i = 0; i < 5; i++) {
        const child = spawnRelay(env);
        await child.waitFor('LEADER', 30_000);
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
        await child.kill9();
        kills++;
      }
      await writing;
      const last = spawnRelay(env);
      cleanups.push(() => last.stop());
      await last.waitFor('LEADER', 30_000);
      const t0 = Date.now();
      await received.waitFor(streams * perStream, 60_000);
      await new Promise((r) => setTimeout(r, 300));
      console.log(
        `[${name}] kill -9 ×${kills}: ${received.ids.size}/${streams * perStream} events received, ` +
          `${received.duplicates} duplicates reached the subscriber, out-of-order first deliveries ${received.outOfOrder}, ` +
          `catch-up after last restart ${Date.now() - t0} ms`,
      );
      expect(received.ids.size).toBe(streams * perStream);
      // NATS drops a republished event by its Nats-Msg-Id within the duplicate window; the others may repeat the
      // batch that was in flight at each kill.
      if (name === 'nats') expect(received.duplicates).toBe(0);
    });

    it('backs off while the broker is unreachable and then delivers everything', async () => {
      const { store, id } = await setup();
      const received = new Received();
      const sub = makeBus(name, id);
      cleanups.push(() => sub.close());
      await subscribe(sub, received);
      const target = hostPort(SERVICES[BUS_SERVICE[name]!].url, SERVICES[BUS_SERVICE[name]!].port);
      const proxy = await startTcpProxy(target);
      cleanups.push(() => proxy.close());
      const errors: unknown[] = [];
      const relay = createRelay(store, {
        bus: makeBus(name, id, { port: proxy.port }),
        registry: null,
        publishTimeoutMs: 2000,
        maxBackoffMs: 1000,
        onError: (e) => errors.push(e),
      });
      cleanups.push(async () => {
        await relay.stop();
        await relay.bus.close();
      });
      await relay.start();
      await appendLoad(store, 20, 50, 10, 'before');
      await received.waitFor(1000, 20_000);
      proxy.down();
      const downAt = Date.now();
      await appendLoad(store, 20, 50, 10, 'during');
      // The outage lasts at least 3 s and until the relay has met it (on a loaded machine its next publish may come
      // later than 3 s), with a deadline: a relay that never reports the outage fails the assertion below.
      const outageDeadline = downAt + scaled(20_000);
      while ((Date.now() - downAt < 3000 || errors.length === 0) && Date.now() < outageDeadline)
        await new Promise((r) => setTimeout(r, 25));
      const duringOutage = received.ids.size;
      proxy.up();
      await received.waitFor(2000, 60_000);
      await relay.caughtUp(scaled(30_000));
      const stats = await relay.stats();
      console.log(
        `[${name}] outage 3 s: ${duringOutage} received while down, ${received.ids.size}/2000 after; relay errors ${stats.errors}` +
          ` (${String(stats.lastError).slice(0, 100)}), duplicates ${received.duplicates}`,
      );
      expect(received.ids.size).toBe(2000);
      expect(duringOutage).toBeLessThanOrEqual(1000 + 200); // at most an in-flight batch slipped through
      expect(errors.length).toBeGreaterThan(0);
      expect(stats.backlogEvents).toBe(0);
    });

    it('redelivers a nacked message after its delay, with the attempt counted', async () => {
      const { store, id } = await setup();
      const sub = makeBus(name, id);
      cleanups.push(() => sub.close());
      await sub.connect({ partitions: 16 });
      const attempts: { attempt: number; at: number }[] = [];
      await sub.subscribe({
        consumer: 'sub',
        partitions: ALL,
        onMessage: async (d) => {
          attempts.push({ attempt: d.attempt, at: performance.now() });
          if (attempts.length === 1) await d.nack(500);
          else await d.ack();
        },
      });
      const relay = createRelay(store, { bus: makeBus(name, id), registry: null });
      cleanups.push(async () => {
        await relay.stop();
        await relay.bus.close();
      });
      await relay.start();
      await store.append('retry-1', [{ type: 'order.created', data: {} }]);
      const deadline = Date.now() + scaled(10_000);
      while (attempts.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 300));
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(450);
    });

    it('publishes no ghost events', async () => {
      const { store, id } = await setup();
      const received = new Received();
      const types: string[] = [];
      const sub = makeBus(name, id);
      cleanups.push(() => sub.close());
      await sub.connect({ partitions: 16 });
      await sub.subscribe({
        consumer: 'sub',
        partitions: ALL,
        onMessage: async (d) => {
          types.push(d.event.type);
          received.add(d);
          await d.ack();
        },
      });
      const relay = createRelay(store, { bus: makeBus(name, id), registry: null });
      cleanups.push(async () => {
        await relay.stop();
        await relay.bus.close();
      });
      await relay.start();
      for (let i = 0; i < 5; i++) {
        await expect(
          store.transaction(async (tx) => {
            await tx.append(`ghost-${i}`, [{ type: 'order.ghost', data: {} }]);
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
      }
      await store.append('real-1', [{ type: 'order.real', data: {} }]);
      await relay.caughtUp(scaled(20_000));
      await received.waitFor(1, 10_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(types).toEqual(['order.real']);
    });

    it('gives typed errors for bad configuration and unreachable brokers, within the timeout', async () => {
      const cases: { bus: () => Bus; code: string }[] = [
        { bus: () => makeBus(name, uniqueBusId(), { port: 1 }), code: 'EVENTLANE_BUS_UNREACHABLE' },
      ];
      if (name === 'rabbitmq') {
        const { rabbitmqBus } = await import('../../../src/bus/rabbitmq/index.js');
        cases.push({
          bus: () => rabbitmqBus({ url: 'amqp://guest:wrong@127.0.0.1:5672' }),
          code: 'EVENTLANE_BUS_AUTHENTICATION',
        });
      }
      if (name === 'redis') {
        const { redisBus } = await import('../../../src/bus/redis/index.js');
        cases.push({
          bus: () => redisBus({ url: 'redis://nobody:wrong@127.0.0.1:6379' }),
          code: 'EVENTLANE_BUS_AUTHENTICATION',
        });
      }
      for (const c of cases) {
        const t0 = Date.now();
        const bus = c.bus();
        const error = await bus.connect({ partitions: 16 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        await bus.close();
        expect(isEventlaneError(error), String(error)).toBe(true);
        expect((error as { code: string }).code).toBe(c.code);
        expect(Date.now() - t0).toBeLessThan(scaled(7000));
      }
      const factories = {
        nats: async () => (await import('../../../src/bus/nats/index.js')).natsBus({ servers: 'http://x' }),
        rabbitmq: async () =>
          (await import('../../../src/bus/rabbitmq/index.js')).rabbitmqBus({ url: 'localhost' }),
        redis: async () => (await import('../../../src/bus/redis/index.js')).redisBus({ url: '' }),
      };
      const bad = await factories[name]().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((bad as { code?: string })?.code).toBe('EVENTLANE_INVALID_ARGUMENT');
    });
  });
}
