import { afterEach, describe, expect, it } from 'vitest';
import { createProjections, createReplay, type EventStore } from '../../src/index.js';
import { pgAvailable } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { fold, readTable, summary, writeEvents } from '../projections/fixtures/model.js';
import { closeStore, openStore, q, settle, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<EventStore> {
  const store = await openStore();
  cleanups.push(() => closeStore(store));
  return store;
}

const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

describe.skipIf(!pgAvailable())('createProjections builds a building version through a rebuild job', () => {
  it('the job carries the runner’s rate; an operator pauses it, changes its rate, resumes it; then the switch', async () => {
    const store = await setup();
    await writeEvents(store, 3_000, { streams: 60, perCall: 50 });
    await settle(store);
    const p = createProjections(store, {
      projections: [summary(1)],
      schema: store.schema,
      pollMs: 10,
      pageSize: 500,
      maxEventsPerSecond: 500,
    });
    cleanups.push(() => p.stop());
    const replay = createReplay(store, { consumers: [summary(1)], pollMs: 10 });
    cleanups.push(() => replay.stop());
    await p.start();

    await waitFor('the rebuild job', () => p.progress('order_summary').job !== null);
    const id = p.progress('order_summary').job!;
    const running = await replay.get(id);
    expect(running).toMatchObject({ kind: 'rebuild', consumer: 'order_summary', maxEventsPerSecond: 500 });
    expect(running.total).toBe(3_000);
    await waitFor('some pages', async () => (await replay.get(id)).done >= 200);

    // Paused by an operator: the runner leaves it paused (the version stays building, its checkpoint still).
    const pausedAt = (await replay.pause(id)).updatedAt;
    const version = async () =>
      (
        await store.executor.query<{ applied: string; status: string }>(
          `select applied::text as applied, status from ${q(store)}.projections where name = 'order_summary'`,
        )
      )[0]!;
    // The page in flight commits (its job row write is the run's last heartbeat), then the run stops.
    await waitFor('the pause to take', async () => {
      const [row] = await store.executor.query<{ state: string; heartbeat_at: Date; applied: string }>(
        `select state, heartbeat_at, applied::text as applied from ${q(store)}.replay_jobs where id = $1`,
        [id],
      );
      return (
        row!.state === 'paused' && row!.heartbeat_at > pausedAt && row!.applied === (await version()).applied
      );
    });
    const paused = await replay.get(id);
    expect(paused.done).toBeLessThan(3_000);
    const atPause = await version();
    await new Promise((r) => setTimeout(r, scaled(500)));
    expect(await version()).toEqual(atPause);
    expect(atPause.status).toBe('building');
    // progress() shows what the job applied.
    expect(p.progress('order_summary').done).toBe(Number(atPause.applied));

    // Faster, and resumed here by the replay engine: the runner waits for it, then switches the version live.
    await replay.setRate(id, null);
    await replay.resume(id);
    const done = await replay.wait(id, { timeoutMs: scaled(30_000) });
    expect(done.state).toBe('completed');
    expect(done.done).toBe(3_000);
    await p.waitLive('order_summary', scaled(30_000));
    expect(p.progress('order_summary')).toMatchObject({ status: 'live', done: 3_000, job: null });
    expect(Number((await version()).applied)).toBe(3_000); // every event applied once across both processes' runs
    expect(sorted(await readTable(store, `${q(store)}.order_summary`))).toEqual(sorted(await fold(store, 1)));
  });

  it('a rebuild failing at an event fails its job, which the runner resumes once the event applies', async () => {
    const store = await setup();
    await writeEvents(store, 400, { streams: 20, perCall: 20 });
    await store.append('order-x', [{ type: 'order.boom', data: {} }]);
    await writeEvents(store, 400, { streams: 20, perCall: 20, prefix: 'late' });
    await settle(store);
    let failing = true;
    const errors: string[] = [];
    const p = createProjections(store, {
      projections: [summary(1, { failOn: 'order.boom', failWhile: () => failing })],
      schema: store.schema,
      pollMs: 10,
      pageSize: 100,
      retry: { maxAttempts: 50, baseDelayMs: 20, maxDelayMs: 50 },
      onError: (e) => errors.push(e.message),
    });
    cleanups.push(() => p.stop());
    await p.start();
    await waitFor('the failure', () => p.progress('order_summary').failure !== null);
    const id = p.progress('order_summary').job!;
    const replay = createReplay(store, { consumers: [summary(1)] });
    const failed = await replay.get(id);
    expect(['failed', 'running']).toContain(failed.state);
    expect(p.progress('order_summary')).toMatchObject({ status: 'stalled', done: 400 });
    failing = false;
    await p.waitLive('order_summary', scaled(30_000));
    expect(errors.length).toBeGreaterThan(0);
    expect(p.progress('order_summary')).toMatchObject({ status: 'live', failure: null, done: 801 });
    expect((await replay.get(id)).state).toBe('completed');
    expect(sorted(await readTable(store, `${q(store)}.order_summary`))).toEqual(sorted(await fold(store, 1)));
  });
});
