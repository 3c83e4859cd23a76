import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, ReplayJob, ReplayPlan } from '../src/index.js';
import { SERVICES } from './support/services.js';
import { pgAvailable } from './support/stores.js';
import { closeStore, openStore, q, settle } from './replay/helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = 'test/fixtures/replay/eventlane.config.ts';

describe.skipIf(!pgAvailable())('eventlane replay (CLI)', () => {
  let store: EventStore;
  let cli: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

  beforeAll(async () => {
    store = await openStore();
    await store.executor.query(`create table ${q(store)}.paid (event_id uuid primary key)`);
    for (let i = 0; i < 30; i++)
      await store.append(`order-${i}`, [{ type: 'order.paid', data: { amount: i } }]);
    await settle(store);
    const base = ['--config', config, '--url', SERVICES.postgres.url, '--schema', store.schema];
    cli = (args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', 'replay', ...args, ...base],
          { cwd: root, env: { ...process.env, REPLAY_TABLE: `${q(store)}.paid` } },
          (error, stdout, stderr) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
  });
  afterAll(async () => {
    await closeStore(store);
  });

  it('plans, starts, lists and shows a job; refuses bad input with a message and its exit code', async () => {
    const plan = await cli(['plan', '--kind', 'backfill', '--consumer', 'paid_log', '--json']);
    expect(plan.code).toBe(0);
    expect((JSON.parse(plan.stdout) as ReplayPlan).events).toBe(30);

    const text = await cli(['plan', '--kind', 'backfill', '--consumer', 'paid_log', '--types', 'order.paid']);
    expect(text.stdout).toContain('backfill of paid_log: 30 events');
    expect(text.stdout).toContain('order.paid: 30');

    const start = await cli('start --kind backfill --consumer paid_log --rate 1000 --json'.split(' '));
    expect(start.code).toBe(0);
    const job = JSON.parse(start.stdout) as ReplayJob;
    expect(job).toMatchObject({ state: 'completed', done: 30, applied: 30 });
    const [rows] = await store.executor.query<{ n: number }>(
      `select count(*)::int as n from ${q(store)}.paid`,
    );
    expect(rows!.n).toBe(30);

    const list = await cli(['list', '--json']);
    expect((JSON.parse(list.stdout) as ReplayJob[]).map((j) => j.id)).toEqual([job.id]);
    const show = await cli(['show', job.id]);
    expect(show.stdout).toContain(`${job.id}  backfill paid_log  completed  30/30`);

    const detached = await cli([
      'start',
      '--kind',
      'backfill',
      '--consumer',
      'paid_log',
      '--detach',
      '--json',
    ]);
    const queued = JSON.parse(detached.stdout) as ReplayJob;
    expect(queued.state).toBe('queued');
    const cancelled = await cli(['cancel', queued.id, '--json']);
    expect((JSON.parse(cancelled.stdout) as ReplayJob).state).toBe('cancelled');

    // Exit codes as for every operator command: 2 usage, 4 not found, 5 not allowed in the job's state.
    const bad: [string[], string, number?][] = [
      [
        ['start', '--kind', 'backfill', '--consumer', 'paid_log', '--rate', 'fast'],
        '--rate must be a number',
      ],
      [
        ['start', '--kind', 'backfill', '--consumer', 'paid_log', '--rate', '-5'],
        'maxEventsPerSecond must be',
      ],
      [['plan', '--kind', 'backfill', '--consumer', 'nobody'], 'nobody', 4],
      [['plan', '--kind', 'backfill', '--consumer', 'paid_log', '--from', 'yesterday'], '--from "yesterday"'],
      [['plan', '--kind', 'backfill', '--consumer', 'paid_log', '--from', '99:1', '--to', '1:1'], 'ends'],
      [['pause', 'no-such-job'], 'No replay job has the id', 4],
      [['resume', queued.id], 'cancelled', 5],
    ];
    for (const [args, message, code = 2] of bad) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    const [jobs] = await store.executor.query<{ n: number }>(
      `select count(*)::int as n from ${q(store)}.replay_jobs`,
    );
    expect(jobs!.n).toBe(2);
  });
});
