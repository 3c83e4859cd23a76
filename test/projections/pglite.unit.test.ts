import { afterEach, describe, expect, it } from 'vitest';
import { createEventStore, createProjections, type EventStore, type Projections } from '../../src/index.js';
import { fold, readTable, summary, writeEvents } from './fixtures/model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function open(): Promise<EventStore> {
  const store = await createEventStore();
  cleanups.push(() => store.close());
  return store;
}

function run(
  store: EventStore,
  projections: Parameters<typeof createProjections>[1]['projections'],
): Projections {
  const p = createProjections(store, { projections, schema: 'eventlane', pollMs: 5 });
  cleanups.push(() => p.stop());
  return p;
}

async function expectFold(store: EventStore, version: number): Promise<void> {
  const expected = await fold(store, version);
  const actual = await readTable(store, 'eventlane.order_summary');
  const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  expect(sorted(actual)).toEqual(sorted(expected));
}

describe('projections on the embedded store (PGlite)', () => {
  it('builds v1, rebuilds v2 behind the stable view, drift check clean then names a corrupted key', async () => {
    const store = await open();
    await writeEvents(store, 2_000, { streams: 40, perCall: 50 });
    const v1 = run(store, [summary(1)]);
    await v1.start();
    await v1.waitLive('order_summary');
    await expectFold(store, 1);
    await v1.stop();
    await writeEvents(store, 500, { streams: 10, perCall: 50, prefix: 'late' });
    const v2 = run(store, [summary(2, { batch: true })]);
    await v2.start();
    await v2.waitLive('order_summary');
    await expectFold(store, 2);
    expect((await v2.checkDrift('order_summary')).ok).toBe(true);
    await store.executor.query(
      `update eventlane.order_summary__v2 set status = 'x' where stream = 'order-3'`,
    );
    expect((await v2.checkDrift('order_summary')).tables[0]!.differences).toEqual([
      { key: { stream: 'order-3' }, kind: 'changed' },
    ]);
  });

  it('inline: read-your-writes, and a failing handler rolls the append back', async () => {
    const store = await open();
    const p = run(store, [summary(1, { mode: 'inline', failOn: 'order.boom' })]);
    await p.start();
    await p.waitLive('order_summary');
    const rows = await p.store.transaction(async (tx) => {
      await tx.append('order-1', [{ type: 'order.created', data: {} }]);
      return tx.query(`select n from eventlane.order_summary where stream = 'order-1'`);
    });
    expect(rows).toEqual([{ n: 1 }]);
    await expect(p.store.append('order-1', [{ type: 'order.boom', data: {} }])).rejects.toThrow(/refusing/);
    expect(await store.streamVersion('order-1')).toBe(1);
  });
});
