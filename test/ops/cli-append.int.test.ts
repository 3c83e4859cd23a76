import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { createEventStore, type EventStore } from '../../src/index.js';
import { SERVICES } from '../support/services.js';
import { dropSchema, pgAvailable, uniqueSchema } from '../support/stores.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = '';

async function cli(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'eventlane', ...args], {
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    env: { DATABASE_URL: SERVICES.postgres.url },
    cwd: dir,
    exitCode: 0,
  });
  process.exitCode = undefined;
  return { code, stdout, stderr };
}

describe.skipIf(!pgAvailable())('eventlane append (PostgreSQL)', () => {
  const schema = uniqueSchema();
  let store: EventStore;
  const file = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    return name;
  };
  const append = (...args: string[]) => cli(['append', ...args, '--schema', schema]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'eventlane-append-'));
    expect((await cli(['migrate', '--schema', schema])).code).toBe(0);
    store = await createEventStore({ url: SERVICES.postgres.url, schema });
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  it('appends one event or an array from a file, with an expected version, in text or JSON', async () => {
    const one = await append(
      'order-1',
      '--file',
      await file('one.json', '{"type":"order.created","data":{"n":1}}'),
    );
    expect(one).toMatchObject({ code: 0, stderr: '' });
    expect(one.stdout).toContain('Appended 1 event to order-1: version 1, checkpoint ');

    const two = await file(
      'two.json',
      '[{"type":"order.paid","data":{"n":2}},{"type":"order.shipped","data":{}}]',
    );
    const json = await append('order-1', '--file', two, '--expected-version', '1', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ stream: 'order-1', streamVersion: 3, positions: [2, 3] });
    expect((await store.readStream('order-1')).map((e) => e.type)).toEqual([
      'order.created',
      'order.paid',
      'order.shipped',
    ]);
  });

  it('refuses a stale expected version (exit 5), bad JSON, bad flags and invalid events (exit 2), writing nothing', async () => {
    const before = await store.streamVersion('order-1');
    const event = await file('e.json', '{"type":"order.noted","data":{}}');
    const cases: [string[], number, string][] = [
      [['order-1', '--file', event, '--expected-version', '1'], 5, 'expected version 1'],
      [['order-1', '--file', event, '--expected-version', 'soon'], 2, '--expected-version must be'],
      [['order-1', '--file', await file('bad.json', '{"type": "order.noted", ')], 2, 'not JSON'],
      [['order-1', '--file', await file('empty.json', '[]')], 2, 'nothing to append'],
      [['order-1', '--file', await file('scalar.json', '[42]')], 2, 'events[0] must be an object'],
      [['order-1', '--file', await file('notype.json', '{"data":{}}')], 2, 'type'],
      [['order-1', '--file', 'missing.json'], 2, 'no such file'],
      [['bad\u0000stream', '--file', event], 2, 'stream'],
    ];
    for (const [args, code, text] of cases) {
      const run = await append(...args);
      expect([run.code, args.join(' ')]).toEqual([code, args.join(' ')]);
      expect(run.stderr.toLowerCase(), args.join(' ')).toContain(text.toLowerCase());
      expect(run.stderr, args.join(' ')).toContain('hint');
    }
    expect(await store.streamVersion('order-1')).toBe(before);
  });

  it("validates against the config's contracts: a bad order.paid is refused, a good one appended", async () => {
    const config = fileURLToPath(new URL('../fixtures/contracts/eventlane.config.ts', import.meta.url));
    const withContracts = (name: string) => append('pay-1', '--config', config, '--file', name);
    const bad = await withContracts(
      await file('paid-bad.json', '{"type":"order.paid","data":{"orderId":"o1"}}'),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('does not match its declared schema');
    expect(await store.streamVersion('pay-1')).toBe(0);
    const good = await withContracts(
      await file('paid.json', '{"type":"order.paid","data":{"orderId":"o1","amount":5,"currency":"EUR"}}'),
    );
    expect([good.code, good.stderr]).toEqual([0, '']);
    expect((await store.readStream('pay-1'))[0]).toMatchObject({
      type: 'order.paid',
      data: { orderId: 'o1', amount: 5 },
    });
  });
});
