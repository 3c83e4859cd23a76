import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, type EventStore } from '../../src/index.js';
import { runCli } from '../../src/cli/program.js';
import { reap, track } from '../support/processes.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';
import { scaled } from '../support/time.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Follower {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Waits until stdout holds `count` lines. */
  lines(count: number): Promise<string[]>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `eventlane read … --follow` as its own process (signals are what end it). */
async function follow(args: string[]): Promise<Follower> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'read', ...args, '--follow'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: SERVICES.postgres.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (what: string, check: () => boolean): Promise<void> => {
    const deadline = Date.now() + scaled(20_000);
    while (!check()) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`read --follow: no ${what}; stdout: ${out}\nstderr: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const lines = () => out.split('\n').filter((l) => l !== '');
  const f: Follower = {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: async (count) => {
      await until(`${count} lines`, () => lines().length >= count);
      return lines();
    },
    stop: async (signal) => {
      child.kill(signal);
      return exit;
    },
  };
  // Human output says on stderr when it follows; JSON output says nothing, so wait for the LISTEN instead.
  if (!args.includes('--json')) await until('start line', () => err.includes('Following'));
  return f;
}

describe.skipIf(!pgAvailable())('eventlane read --follow (PostgreSQL)', () => {
  const schema = uniqueSchema();
  let store: EventStore;
  const added = (stream: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ type: 'item.added', data: { stream, i } }));

  beforeAll(async () => {
    store = await createEventStore({ url: SERVICES.postgres.url, schema });
    await store.append('old-1', added('old-1', 2));
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  it('prints the log from the head as events are committed, one line each, and exits 0 on SIGINT', async () => {
    const f = await follow(['--schema', schema]);
    try {
      // Nothing of what was there before the follow started.
      await new Promise((r) => setTimeout(r, 300));
      expect(f.stdout()).toBe('');
      await store.append('order-1', added('order-1', 1));
      const [first] = await f.lines(1);
      expect(first).toMatch(
        /^\d+:\d+ {2}order-1@1 {2}item\.added v1 {2}\S+ {2}\{"i":0,"stream":"order-1"\}$/,
      );
      // Two writers, several events: each appears once, in commit order.
      await Promise.all([
        store.append('order-2', added('order-2', 3)),
        store.append('order-3', added('order-3', 2)),
      ]);
      const lines = await f.lines(6);
      expect(lines).toHaveLength(6);
      expect(lines.filter((l) => l.includes(' order-2@')).map((l) => /@(\d+)/.exec(l)![1])).toEqual([
        '1',
        '2',
        '3',
      ]);
      expect(lines.filter((l) => l.includes(' order-3@'))).toHaveLength(2);
      expect(await f.stop('SIGINT')).toBe(0);
      expect(f.stderr()).not.toContain('error');
    } finally {
      await reap(f.child);
    }
  });

  it('--after catches up first; --json prints NDJSON; SIGTERM exits 0', async () => {
    const f = await follow(['--schema', schema, '--after', '0:0', '--json']);
    try {
      const total = (await store.readLog()).events.length;
      expect(total).toBeGreaterThanOrEqual(2);
      const before = await f.lines(total);
      const parsed = before.map((l) => JSON.parse(l) as { stream: string; globalPosition: string });
      expect(parsed[0]).toMatchObject({ stream: 'old-1', type: 'item.added', streamPosition: 1 });
      expect(typeof parsed[0]!.globalPosition).toBe('string');
      await store.append('order-4', added('order-4', 1));
      const after = await f.lines(total + 1);
      expect(JSON.parse(after[total]!)).toMatchObject({
        stream: 'order-4',
        streamPosition: 1,
        data: { i: 0 },
      });
      expect(await f.stop('SIGTERM')).toBe(0);
    } finally {
      await reap(f.child);
    }
  });

  it('a stream: from after its last event by default, from --from when given; other streams do not show', async () => {
    const f = await follow(['order-1', '--schema', schema]);
    const g = await follow(['order-2', '--schema', schema, '--from', '3']);
    try {
      const [kept] = await g.lines(1);
      expect(kept).toContain('order-2@3');
      await store.append('order-9', added('order-9', 1));
      await store.append('order-1', added('order-1', 2), { expectedVersion: 1 });
      const lines = await f.lines(2);
      expect(lines.map((l) => /order-1@(\d+)/.exec(l)?.[1])).toEqual(['2', '3']);
      await store.append('order-2', added('order-2', 1));
      expect((await g.lines(2))[1]).toContain('order-2@4');
      await new Promise((r) => setTimeout(r, 200));
      expect(f.stdout()).not.toContain('order-9');
      expect(f.stdout().split('\n').filter(Boolean)).toHaveLength(2);
      expect(await f.stop('SIGINT')).toBe(0);
      expect(await g.stop('SIGINT')).toBe(0);
    } finally {
      await reap(f.child);
      await reap(g.child);
    }
  });

  it('refuses flags that do not fit the follow, before waiting (exit 2)', async () => {
    const run = async (args: string[]) => {
      let stderr = '';
      const code = await runCli(['node', 'eventlane', 'read', ...args, '--follow', '--schema', schema], {
        out: () => undefined,
        err: (t) => (stderr += t),
        env: { DATABASE_URL: SERVICES.postgres.url },
        cwd: root,
        exitCode: 0,
      });
      process.exitCode = undefined;
      return { code, stderr };
    };
    expect(await run(['order-1', '--backward'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--backward'),
    });
    expect(await run(['--from', '3'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--after') });
    expect(await run(['order-1', '--after', '0:0'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--from'),
    });
    expect(await run(['--after', 'yesterday'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('checkpoint'),
    });
  });
});
