import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEventStore, type EventStore } from '../../src/index.js';
import { dropSchema, uniqueSchema } from '../support/stores.js';
import { SERVICES } from '../support/services.js';
import { Received } from './support/bus-suite.js';
import { cleanupBus, makeBus, readWholeLog, uniqueBusId } from './support/buses.js';
import { spawnRelay, type RelayChild } from './support/child.js';
import { scaled } from '../support/time.js';

const services = inject('services');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Index ranges (in commit order) of the batches a child said it published. */
function publishedRanges(child: RelayChild, order: Map<string, number>): [number, number][] {
  return child.lines
    .filter((l) => l.text.startsWith('PUBLISHED '))
    .map((l) => {
      const [, , first, last] = l.text.split(' ');
      return [order.get(first!)!, order.get(last!)!];
    });
}

describe.skipIf(!(services.postgres && services.nats))('relay leadership (child processes, NATS)', () => {
  it('a standby takes over within 5 s after the active relay is killed with kill -9, never publishing alongside it', async () => {
    const store: EventStore = await createEventStore({ url: SERVICES.postgres.url, schema: uniqueSchema() });
    const id = uniqueBusId();
    cleanups.push(async () => {
      await store.close();
      await dropSchema(store.schema);
      await cleanupBus('nats', id);
    });
    const received = new Received();
    const sub = makeBus('nats', id);
    cleanups.push(() => sub.close());
    await sub.connect({ partitions: 16 });
    await sub.subscribe({
      consumer: 'sub',
      partitions: Array.from({ length: 16 }, (_, i) => i),
      onMessage: async (d) => {
        received.add(d);
        await d.ack();
      },
    });

    const env = {
      SCHEMA: store.schema,
      BUS: 'nats',
      BUS_ID: id,
      RELAY_NAME: 'ha',
      LEASE_MS: '3000',
      BATCH_SIZE: '100',
    };
    const a = spawnRelay(env);
    cleanups.push(() => a.stop());
    await a.waitFor('LEADER');
    const b = spawnRelay(env);
    cleanups.push(() => b.stop());
    await b.waitFor('READY');

    // A steady trickle of commits, so the gap in publishing is visible.
    let writing = true;
    let appended = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await store.append(`ha-${i % 50}`, [{ type: 'order.noted', data: { i } }]);
        appended++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.lines.some((l) => l.text === 'LEADER')).toBe(false);
    const killedAt = performance.now();
    await a.kill9();
    const takenAt = await b.waitFor('PUBLISHED', 10_000);
    const gapMs = takenAt - killedAt;
    await new Promise((r) => setTimeout(r, 1000));
    writing = false;
    await writer;
    await received.waitFor(appended, 30_000);

    const order = new Map<string, number>();
    let index = 0;
    for (const e of await readWholeLog(store)) order.set(e.id, index++);
    const rangesA = publishedRanges(a, order);
    const rangesB = publishedRanges(b, order);
    let overlap = 0;
    for (const [a0, a1] of rangesA) {
      for (const [b0, b1] of rangesB) overlap += Math.max(0, Math.min(a1, b1) - Math.max(a0, b0) + 1);
    }
    const firstB = b.lines.find((l) => l.text.startsWith('PUBLISHED'))!.at;
    console.log(
      `[takeover] kill -9 → standby published after ${Math.round(gapMs)} ms; events published by both: ${overlap} ` +
        `(batch size 100, 2 batches in flight); received ${received.ids.size}/${appended}, duplicates at the subscriber ${received.duplicates}`,
    );
    expect(gapMs).toBeLessThan(scaled(5000));
    expect(firstB).toBeGreaterThan(killedAt); // B never published while A was alive
    expect(overlap).toBeLessThanOrEqual(200); // at most the batches A had in flight (maxBatchesInFlight 2 × 100)
    expect(received.ids.size).toBe(appended);
    expect(received.duplicates).toBe(0); // NATS de-duplicates the republished batch by event id
  });
});
