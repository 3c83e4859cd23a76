import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createReplay, defineProjection, type EventStore } from '../../src/index.js';
import { exited, kill9, track } from '../support/processes.js';
import { SERVICES } from '../support/services.js';
import { pgAvailable } from '../support/stores.js';
import { appendOrders, closeStore, openStore, q, settle, waitFor } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/replay-child.ts', import.meta.url));

function child(store: EventStore, jobId: string) {
  return track(
    spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, PG_URL: SERVICES.postgres.url, SCHEMA: store.schema, JOB_ID: jobId },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
}

describe.skipIf(!pgAvailable())('a replay job killed with SIGKILL (PostgreSQL)', () => {
  let store: EventStore | undefined;
  afterEach(async () => {
    if (store) await closeStore(store);
    store = undefined;
  });

  it('resumes from its checkpoint three times over: total applied equals the range, nothing twice', async () => {
    store = await openStore();
    await store.executor.query(
      `create table ${q(store)}.applied_events (event_id uuid primary key, n int not null)`,
    );
    await appendOrders(store, 4000, 40);
    await settle(store);
    // The definition the job names; only the child processes run it.
    const applied = defineProjection({
      name: 'applied_events',
      handlers: { 'order.paid': () => Promise.resolve() },
    });
    const replay = createReplay(store, { consumers: [applied] });
    // Slow enough that each kill lands mid-run.
    const job = await replay.start({
      kind: 'backfill',
      consumer: 'applied_events',
      maxEventsPerSecond: 1500,
      detached: true,
    });
    expect(job.state).toBe('queued');
    const checkpoints: number[] = [];
    for (let k = 1; k <= 3; k++) {
      const proc = child(store, job.id);
      const floor = (k * 4000) / 4;
      await waitFor(`job past ${floor}`, async () => (await replay.get(job.id)).done >= floor, 60_000);
      await kill9(proc);
      const row = await replay.get(job.id);
      expect(row.state).toBe('running');
      expect(row.done).toBeLessThan(4000);
      checkpoints.push(row.done);
    }
    // Each run went on from where the one before was killed, never from zero.
    expect(checkpoints[0]).toBeLessThan(checkpoints[1]!);
    expect(checkpoints[1]).toBeLessThan(checkpoints[2]!);
    await replay.setRate(job.id, null);
    const last = child(store, job.id);
    await exited(last);
    expect(last.exitCode).toBe(0);
    const done = await replay.get(job.id);
    expect(done).toMatchObject({ state: 'completed', done: 4000, applied: 4000, total: 4000 });
    const [rows] = await store.executor.query<{ events: number; max: number }>(
      `select count(*)::int as events, max(n)::int as max from ${q(store)}.applied_events`,
    );
    expect(rows).toEqual({ events: 4000, max: 1 });
    await replay.stop();
  });
});
