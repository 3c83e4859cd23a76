import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { listAudit } from '../../src/ops/index.js';
import { createEventStore, createProjections, createReplay, type EventStore } from '../../src/index.js';
import { appendSpread, waitFor } from '../consumers/helpers.js';
import { tableMap } from '../../src/projections/tables.js';
import { tally } from '../fixtures/ops/rebuild.config.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema, waitForHead } from '../support/stores.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const config = join(root, 'test/fixtures/ops/rebuild.config.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'eventlane', ...args], {
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    env: { DATABASE_URL: SERVICES.postgres.url, EVENTLANE_ACTOR: 'ops-test' },
    cwd: root,
    exitCode: 0,
  });
  process.exitCode = undefined;
  return { code, stdout, stderr };
}

describe.skipIf(!pgAvailable())('eventlane projections rebuild (PostgreSQL)', () => {
  const schema = uniqueSchema();
  const readSchema = `${schema}_read`;
  let store: EventStore;
  const rebuild = (name: string, ...args: string[]) =>
    cli(['projections', 'rebuild', name, ...args, '--config', config, '--schema', schema]);

  /** The version's row and what its table holds, against the counts a fold of the log gives. */
  async function version2(): Promise<{ status: string; checkpoint: string; rows: Map<string, number> }> {
    const [row] = await store.executor.query<{ status: string; checkpoint: string }>(
      `select status, checkpoint from ${schema}.projections where name = 'tally' and version = 2`,
    );
    const rows = await store.executor.query<{ stream: string; n: number }>(
      `select stream, n from ${tableMap(tally(2), readSchema, 2).tally!}`,
    );
    return { ...row!, rows: new Map(rows.map((r) => [r.stream, r.n])) };
  }
  async function truth(): Promise<Map<string, number>> {
    const rows = await store.executor.query<{ stream: string; n: number }>(
      `select stream, count(*)::int as n from ${schema}.events where type = 'item.added' group by stream`,
    );
    return new Map(rows.map((r) => [r.stream, r.n]));
  }
  async function appendAndWait(n: number): Promise<void> {
    await appendSpread(store, n, 10);
    const [last] = await store.executor.query<{ checkpoint: string }>(
      `select tx_order::text || ':' || global_position::text as checkpoint from ${schema}.events
        order by tx_order desc, global_position desc limit 1`,
    );
    await waitForHead(store, last!.checkpoint, 60_000);
  }

  beforeAll(async () => {
    store = await createEventStore({ url: SERVICES.postgres.url, schema });
    await appendAndWait(400);
    const v1 = createProjections(store, { projections: [tally(1)], schema: readSchema, pollMs: 5 });
    await v1.start();
    await v1.waitLive('tally');
    await v1.stop();
    // Version 2 registered (building) by a runner stopped at once: it leaves its rebuild job queued part-way.
    const v2 = createProjections(store, {
      projections: [tally(2)],
      schema: readSchema,
      pageSize: 10,
      maxEventsPerSecond: 50,
    });
    await v2.start();
    await waitFor('the runner’s rebuild job', () => v2.progress('tally').job !== null);
    await v2.stop();
    // Whatever that job got to: the tests start from no open rebuild job.
    await store.executor.query(
      `update ${schema}.replay_jobs set state = 'cancelled' where state in ('queued', 'running', 'paused', 'failed')`,
    );
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
    await dropSchema(readSchema);
  });

  it('starts a rebuild from the version’s checkpoint to the head, as JSON, and audits it as the API does', async () => {
    await appendAndWait(120);
    const started = await rebuild('tally', '--json');
    expect([started.code, started.stderr]).toEqual([0, '']);
    const job = JSON.parse(started.stdout) as { id: string; state: string; done: number; kind: string };
    expect(job).toMatchObject({ kind: 'rebuild', consumer: 'tally', state: 'completed' });
    expect(job.done).toBeGreaterThanOrEqual(120);
    const v = await version2();
    expect(v.status).toBe('building');
    expect(v.checkpoint).toBe((await store.head()).checkpoint);
    expect(v.rows).toEqual(await truth());
    const [entry] = await listAudit(store, { limit: 1 });
    expect(entry).toMatchObject({
      actor: 'ops-test',
      action: 'replay.start',
      target: 'consumer:tally',
      outcome: 'ok',
      details: { kind: 'rebuild', consumer: 'tally', previewed: true },
    });

    // Human output: what it rebuilds on stderr, the finished job on stdout.
    await appendAndWait(30);
    const human = await rebuild('tally');
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^Rebuilding tally v2: 30 events after \d+:\d+ \(replay job \S+\)\.\n$/);
    expect(human.stdout).toMatch(/ {2}rebuild tally {2}completed {2}30\/30 {2}applied 30, skipped 0/);
  });

  it('--detach queues the job with its rate; a second rebuild is refused while one is open or running', async () => {
    await appendAndWait(200);
    const detached = await rebuild('tally', '--detach', '--max-events-per-second', '20', '--json');
    expect([detached.code, detached.stderr]).toEqual([0, '']);
    const job = JSON.parse(detached.stdout) as { id: string; state: string; maxEventsPerSecond: number };
    expect(job).toMatchObject({ state: 'queued', maxEventsPerSecond: 20 });
    const human = await rebuild('tally', '--detach');
    expect(human.code).toBe(5);
    expect(human.stderr).toContain(`A rebuild of projection "tally" is already queued: replay job ${job.id}`);
    expect(human.stderr).toContain(`eventlane replay resume ${job.id}`);

    // Running in another process (here: an engine of this test), slowly.
    const other = createReplay(store, { consumers: [tally(2)] });
    try {
      await other.resume(job.id);
      await waitFor('the job running', async () => (await other.get(job.id)).done > 0);
      const refused = await rebuild('tally');
      expect(refused.code).toBe(5);
      expect(refused.stderr).toContain('is already running');
      expect(refused.stderr).toContain(`eventlane replay pause ${job.id}`);
      expect(refused.stderr).toContain('hint: ');
      await other.pause(job.id);
      expect((await other.wait(job.id)).state).toBe('paused');
    } finally {
      await other.stop();
    }
    // Paused: the next rebuild goes on with it, at the new rate, to the end.
    const resumed = await rebuild('tally', '--max-events-per-second', '100000');
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`Resuming the paused rebuild of tally v2 (replay job ${job.id}`);
    const [row] = await store.executor.query<{ state: string; max_events_per_second: number }>(
      `select state, max_events_per_second from ${schema}.replay_jobs where id = $1`,
      [job.id],
    );
    expect(row).toEqual({ state: 'completed', max_events_per_second: 100000 });
    expect((await version2()).rows).toEqual(await truth());
  });

  it('refuses an unknown projection (exit 4, with the ones it knows) and bad flags (exit 2)', async () => {
    const unknown = await rebuild('nope');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('No consumer is named "nope". Known consumers: tally.');
    expect(unknown.stderr).toContain('hint: ');
    // A reactor is not a projection to rebuild.
    expect((await rebuild('mailer')).code).toBe(4);
    for (const rate of ['0', '-5', 'fast']) {
      const bad = await rebuild('tally', '--max-events-per-second', rate);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--max-events-per-second must be a number');
    }
    const jobs = await store.executor.query(`select 1 from ${schema}.replay_jobs where state = 'queued'`);
    expect(jobs).toHaveLength(0);
  });
});
