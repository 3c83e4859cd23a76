import { describe, expect, it, onTestFinished } from 'vitest';
import {
  createEventStore,
  createProjections,
  createReplay,
  defineReactor,
  type EventStore,
} from '../../src/index.js';
import { fold, readTable, summary, writeEvents } from '../projections/fixtures/model.js';

/** An in-memory embedded store, closed when the test finishes (after what was registered later). */
async function open(): Promise<EventStore> {
  const store = await createEventStore();
  onTestFinished(() => store.close());
  return store;
}

describe('replay jobs on the embedded store (PGlite)', () => {
  it('a rebuild job builds the new version from its checkpoint; the projections runner then switches it live', async () => {
    const store = await open();
    await writeEvents(store, 2_000, { streams: 40, perCall: 50 });
    const v1 = createProjections(store, { projections: [summary(1)], schema: 'eventlane', pollMs: 5 });
    await v1.start();
    await v1.waitLive('order_summary');
    await v1.stop();
    // Registers v2 ('building'); stopped before it gets far, so the rebuild job does the work.
    const register = createProjections(store, {
      projections: [summary(2)],
      schema: 'eventlane',
      pageSize: 100,
    });
    await register.start();
    await register.stop();

    const replay = createReplay(store, { consumers: [summary(2)], pageSize: 250 });
    onTestFinished(() => replay.stop());
    const job = await replay.wait((await replay.start({ kind: 'rebuild', consumer: 'order_summary' })).id);
    expect(job.state).toBe('completed');
    expect(job.applied + job.report.alreadyApplied).toBe(job.done);
    const [row] = await store.executor.query<{ checkpoint: string; status: string }>(
      `select checkpoint, status from eventlane.projections where name = 'order_summary' and version = 2`,
    );
    expect(row).toEqual({ checkpoint: (await store.head()).checkpoint, status: 'building' });

    const v2 = createProjections(store, { projections: [summary(2)], schema: 'eventlane', pollMs: 5 });
    onTestFinished(() => v2.stop());
    await v2.start();
    await v2.waitLive('order_summary');
    const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
    expect(sorted(await readTable(store, 'eventlane.order_summary'))).toEqual(sorted(await fold(store, 2)));
    // Rebuilding a live version is refused: nothing to rebuild.
    await expect(replay.plan({ kind: 'rebuild', consumer: 'order_summary' })).rejects.toMatchObject({
      code: 'EVENTLANE_REPLAY_MODE',
    });
  });

  it('a dry run of a reactor records its effects and performs none', async () => {
    const store = await open();
    await writeEvents(store, 600, { streams: 10, perCall: 30 });
    let performed = 0;
    const reactor = defineReactor({
      name: 'shipper',
      handlers: {
        'order.paid': async (_e, { effect }) => {
          await effect('ship', () => Promise.resolve(++performed));
        },
      },
    });
    const replay = createReplay(store, { consumers: [reactor] });
    onTestFinished(() => replay.stop());
    const plan = await replay.plan({ kind: 'dry-run', consumer: 'shipper' });
    const job = await replay.wait((await replay.start({ kind: 'dry-run', consumer: 'shipper' })).id);
    expect(performed).toBe(0);
    expect(job.report.effects.ship!.count).toBe(plan.byType['order.paid']);
    expect(job.report.effects.ship!.count).toBeGreaterThan(0);
  });
});
