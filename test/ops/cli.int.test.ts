import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { listAudit, listConsumers } from '../../src/ops/index.js';
import { reap, track } from '../support/processes.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema, waitForHead } from '../support/stores.js';
import { scaled } from '../support/time.js';
import { countsProjection, seedStore, type Seeded } from './seed.js';
import { createProjections } from '../../src/index.js';
import { openPgStore } from '../consumers/helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const config = join(root, 'test/fixtures/ops/eventlane.config.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with captured output, in an empty folder (no config file found by default). */
async function cli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'eventlane', ...args], {
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    env: { DATABASE_URL: SERVICES.postgres.url, ...env },
    cwd: cwd ?? emptyDir,
    exitCode: 0,
  });
  process.exitCode = undefined;
  return { code, stdout, stderr };
}

let emptyDir = '';

describe.skipIf(!pgAvailable())('operator CLI (PostgreSQL)', () => {
  let seeded: Seeded;
  let schema: string;

  beforeAll(async () => {
    emptyDir = await mkdtemp(join(tmpdir(), 'eventlane-ops-cli-'));
    seeded = await seedStore({ projection: true });
    schema = seeded.store.schema;
  });
  afterAll(async () => {
    await seeded?.cleanup();
  });

  it('migrate creates a schema, then says it is up to date', async () => {
    const fresh = uniqueSchema();
    try {
      const first = await cli(['migrate', '--schema', fresh]);
      expect([first.code, first.stderr]).toEqual([0, '']);
      expect(first.stdout).toContain('0007_audit');
      const again = await cli(['migrate', '--json'], { EVENTLANE_SCHEMA: fresh });
      expect(JSON.parse(again.stdout)).toMatchObject({ schema: fresh, applied: [] });
    } finally {
      await dropSchema(fresh);
    }
  });

  it('status shows the consumer behind, its parked event, the relay backlog and the stalled projection', async () => {
    const human = await cli(['status', '--schema', schema]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/totals\s+21\s+\S+\s+1\s+0\s+0\s+-\s+stopped/);
    expect(human.stdout).toMatch(/main\s+no\s+20/);
    expect(human.stdout).toMatch(/summary\s+1\s+\w+\s+21/);
    const json = JSON.parse((await cli(['status', '--schema', schema, '--json'])).stdout) as {
      consumers: { name: string; eventsBehind: number; parked: number }[];
      relays: { backlogEvents: number }[];
    };
    expect(json.consumers).toEqual([
      expect.objectContaining({ name: 'totals', eventsBehind: 21, parked: 1 }),
    ]);
    expect(json.relays[0]!.backlogEvents).toBe(20);
  });

  it('read prints a stream, the log after a checkpoint, and refuses a bad checkpoint', async () => {
    const stream = await cli(['read', 'bad', '--schema', schema]);
    expect(stream.stdout).toContain('bad@1  item.added v1');
    const page = JSON.parse(
      (await cli(['read', '--after', '0:0', '--limit', '5', '--json', '--schema', schema])).stdout,
    ) as {
      events: unknown[];
      checkpoint: string;
    };
    expect(page.events).toHaveLength(5);
    const next = JSON.parse(
      (await cli(['read', '--after', page.checkpoint, '--limit', '100', '--json', '--schema', schema]))
        .stdout,
    ) as {
      events: unknown[];
    };
    expect(next.events).toHaveLength(16);
    const bad = await cli(['read', '--after', 'nope', '--schema', schema]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^eventlane: .*checkpoint.*\nhint: /s);
    expect((await cli(['read', 'bad', '--limit', '0', '--schema', schema])).code).toBe(2);
  });

  it('parked list|show|retry|skip work and are audited; a second retry is refused with exit 4', async () => {
    const id = seeded.truth.parkedId;
    const list = await cli(['parked', 'list', '--schema', schema]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+totals\\s+bad@1`));
    expect(list.stdout).toMatch(/summary@v1/);
    const shown = JSON.parse((await cli(['parked', 'show', id, '--json', '--schema', schema])).stdout) as {
      data: unknown;
      error: string;
    };
    expect(shown.data).toEqual({ amount: 1, note: '<img src=x onerror=alert(1)>' });
    const redacted = await cli(['parked', 'show', id, '--redact', '--schema', schema]);
    expect(redacted.stdout).toContain('data: "[redacted]"');
    expect((await cli(['parked', 'list', '--relay', 'main', '--schema', schema])).stdout).toContain(
      'No relay-parked events.',
    );

    const retried = await cli(['parked', 'retry', id, '--as', 'carol', '--schema', schema]);
    expect([retried.code, retried.stdout]).toEqual([0, `${id}: retrying\n`]);
    const again = await cli(['parked', 'retry', id, '--schema', schema]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/^eventlane: No parked event has id .*\nhint: List parked events/);
    const skipped = await cli(['parked', 'skip', id, '--reason', 'bad data', '--json', '--schema', schema], {
      EVENTLANE_ACTOR: 'dave',
    });
    expect(JSON.parse(skipped.stdout)).toMatchObject({
      done: [{ id, status: 'skipped', skippedBy: 'dave' }],
    });
    const audit = (await listAudit(seeded.store)).filter((a) => a.target === `parked:${id}`);
    expect(audit.map((a) => [a.actor, a.action, a.outcome])).toEqual([
      ['dave', 'parked.skip', 'ok'],
      [expect.stringMatching(/^cli:/), 'parked.retry', 'failed'],
      ['carol', 'parked.retry', 'ok'],
    ]);
  });

  it('projections list shows the stalled version; drift refuses an unknown or not-live projection', async () => {
    const list = await cli(['projections', 'list', '--schema', schema]);
    expect(list.stdout).toMatch(/summary\s+1\s+\w+\s+async\s+0\s+21/);
    expect(list.stdout).toContain('bad@1 (parked');
    const unknown = await cli(['projections', 'drift', 'nobody', '--config', config, '--schema', schema]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('Known consumers: summary');
    const notLive = await cli(['projections', 'drift', 'summary', '--config', config, '--schema', schema]);
    expect(notLive.code).toBe(2);
    expect(notLive.stderr).toContain('is not live');
  });

  it('projections drift says "no drift" for a faithful read model and exits 1 once its table is changed by hand', async () => {
    const store = await openPgStore();
    const readSchema = `${store.schema}_read`;
    try {
      let last = '';
      for (let i = 0; i < 6; i++) {
        last = (await store.append(`c-${i % 3}`, [{ type: 'item.added', data: { i } }])).checkpoint;
      }
      // waitLive catches up to the readable head of its call: make all six readable first.
      await waitForHead(store, last, 60_000);
      const runner = createProjections(store, { projections: [countsProjection], schema: readSchema });
      await runner.start();
      await runner.waitLive('counts', scaled(30_000));
      await runner.stop();
      const args = ['projections', 'drift', 'counts', '--config', config, '--schema', store.schema];
      const clean = await cli(args);
      expect([clean.code, clean.stdout]).toEqual([0, expect.stringContaining('no drift')]);
      await store.executor.query(`update ${readSchema}.ops_counts__v1 set n = 99 where stream = 'c-1'`);
      const drifted = await cli([...args, '--json']);
      expect(drifted.code).toBe(1);
      const report = JSON.parse(drifted.stdout) as { ok: boolean; tables: { differences: unknown[] }[] };
      expect(report.ok).toBe(false);
      expect(report.tables[0]!.differences).toEqual([{ key: { stream: 'c-1' }, kind: 'changed' }]);
    } finally {
      await store.close();
      await dropSchema(store.schema);
      await dropSchema(readSchema);
    }
  });

  it('reports bad config, an unreachable database, an unknown consumer and an old schema with their exit codes', async () => {
    const noDb = await cli(['status'], { DATABASE_URL: undefined });
    expect([noDb.code, noDb.stderr]).toEqual([
      2,
      expect.stringMatching(/^eventlane: No database: set DATABASE_URL.*\nhint: /),
    ]);
    const missing = await cli(['status', '--config', 'nowhere.config.ts']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nowhere.config.ts does not exist');
    const throwing = await cli(['status', '--config', join(root, 'test/fixtures/ops/throwing.config.ts')]);
    expect(throwing.code).toBe(2);
    expect(throwing.stderr).toContain('the config could not reach its secrets');
    const down = await cli(['status', '--schema', schema], {
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test',
    });
    expect(down.code).toBe(3);
    expect(down.stderr).not.toContain('hunter2');
    expect(down.stderr.trim().split('\n')).toHaveLength(2);
    const verbose = await cli(['status', '--schema', schema, '--verbose'], {
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test',
    });
    expect(verbose.stderr).toMatch(/\n\s+at /);
    expect(verbose.stderr).not.toContain('hunter2');
    const nobody = await cli(['parked', 'list', '--consumer', 'nobody', '--schema', schema]);
    expect(nobody.code).toBe(4);
    expect(nobody.stderr).toContain('Known consumers: totals, summary@v1');
    const old = await cli(['status', '--schema', uniqueSchema()]);
    expect(old.code).toBe(5);
    expect(old.stderr).toContain('eventlane migrate');
    const badSchema = await cli(['status', '--schema', 'Robert"); drop table x;--']);
    expect(badSchema.code).toBe(2);
    expect((await cli(['status', '--bogus'])).code).toBe(2);
    expect((await cli(['parked', 'skip', '--schema', schema])).code).toBe(2);
  });

  it('serve binds to 127.0.0.1, serves the API with the token, and stops on SIGTERM', async () => {
    const token = 'serve-token-0123456789abcdef';
    const noToken = await cli(['serve', '--schema', schema]);
    expect([noToken.code, noToken.stderr]).toEqual([2, expect.stringContaining('needs an admin token')]);
    expect(
      (await cli(['serve', '--port', '70000', '--schema', schema], { EVENTLANE_ADMIN_TOKEN: token })).code,
    ).toBe(2);
    expect((await cli(['serve', '--schema', schema], { EVENTLANE_ADMIN_TOKEN: 'short' })).code).toBe(2);

    const child = track(
      spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--json', '--schema', schema],
        {
          cwd: root,
          env: { ...process.env, DATABASE_URL: SERVICES.postgres.url, EVENTLANE_ADMIN_TOKEN: token },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + scaled(20_000);
    while (!out.includes('\n}') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const { url } = JSON.parse(out) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/api/overview`)).status).toBe(401);
    const overview = (await (
      await fetch(`${url}/api/overview`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as {
      consumers: { eventsBehind: number }[];
    };
    // 21, or 20 once the parked test above skipped the parked event: what the store says now.
    const [truth] = await listConsumers(seeded.store, 'totals');
    expect(overview.consumers[0]!.eventsBehind).toBe(truth!.eventsBehind);
    expect(await (await fetch(`${url}/metrics`)).text()).toContain(
      `eventlane_db_consumer_lag_events{consumer="totals"} ${truth!.eventsBehind}`,
    );
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    await reap(child);
  });
});
