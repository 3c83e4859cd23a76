import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkCompatibility,
  defineEvent,
  ErrorCodes,
  isEventlaneError,
  readSnapshot,
  snapshotContracts,
  writeSnapshot,
} from '../src/index.js';

const paid = z.object({ orderId: z.string(), amount: z.number(), note: z.string().optional() });
const contract = (type: string, schema: z.ZodType = paid) =>
  defineEvent({ type, owner: 'billing', versions: { 1: schema as typeof paid }, upcast: {} });

/** A snapshot folder of its own, next to a file outside it whose content must never be read or shown. */
async function folder(): Promise<{ dir: string; outside: string }> {
  const base = await mkdtemp(join(tmpdir(), 'eventlane-snap-'));
  const outside = join(base, 'secret.json');
  await writeFile(outside, 'TOPSECRET-Zq9 not json at all\n');
  const dir = join(base, 'contracts');
  await writeSnapshot(dir, snapshotContracts([contract('order.paid')]));
  return { dir, outside };
}

async function pointSchemaAt(dir: string, schema: string): Promise<void> {
  const file = join(dir, 'order.paid', 'contract.json');
  const index = JSON.parse(await readFile(file, 'utf8')) as { versions: Record<string, { schema: string }> };
  index.versions['1']!.schema = schema;
  await writeFile(file, JSON.stringify(index));
}

async function refusal(dir: string): Promise<Error> {
  const error = await readSnapshot(dir).then(
    () => new Error('read'),
    (e: Error) => e,
  );
  expect(isEventlaneError(error, ErrorCodes.INVALID_SNAPSHOT), String(error)).toBe(true);
  return error;
}

/** Nothing of a file's content in anything the error shows. */
function expectNoContent(error: Error, ...contents: string[]): void {
  const shown = `${error.message}\n${error.stack}\n${JSON.stringify(error)}\n${String((error.cause as Error)?.message)}`;
  for (const c of contents) expect(shown).not.toContain(c);
}

describe('contract snapshots read only their own files', () => {
  it.each(['/etc/passwd', `${'../'.repeat(30)}etc/passwd`])(
    'refuses %s and does not echo its bytes',
    async (path) => {
      const { dir } = await folder();
      await pointSchemaAt(dir, path);
      const error = await refusal(dir);
      expect(error.message).toContain('etc/passwd"');
      expect(error.message).toMatch(/outside its folder/);
      const head = (await readFile('/etc/passwd', 'utf8')).slice(0, 8);
      expectNoContent(error, head, 'root:');
    },
  );

  it.each([
    ['a ../ path', '../../secret.json'],
    ['a ../ path that comes back in', '../order.paid/../../secret.json'],
  ])('refuses %s', async (_, schema) => {
    const { dir } = await folder();
    await pointSchemaAt(dir, schema);
    expectNoContent(await refusal(dir), 'TOPSECRET');
  });

  it('refuses an absolute path', async () => {
    const { dir, outside } = await folder();
    await pointSchemaAt(dir, outside);
    expectNoContent(await refusal(dir), 'TOPSECRET');
  });

  it('refuses a schema file that is a symbolic link out of the folder', async () => {
    const { dir, outside } = await folder();
    await symlink(outside, join(dir, 'order.paid', 'v2.schema.json'));
    await pointSchemaAt(dir, 'v2.schema.json');
    const error = await refusal(dir);
    expect(error.message).toMatch(/symbolic link/);
    expectNoContent(error, 'TOPSECRET');
  });

  it('refuses a type folder that is a symbolic link out of the snapshot folder', async () => {
    const { dir } = await folder();
    const elsewhere = await mkdtemp(join(tmpdir(), 'eventlane-elsewhere-'));
    await symlink(elsewhere, join(dir, 'order.shipped'));
    expect((await refusal(dir)).message).toMatch(/symbolic link out of the snapshot folder/);
  });

  it('never quotes the bytes of a file that is not JSON', async () => {
    const { dir } = await folder();
    await writeFile(join(dir, 'order.paid', 'v1.schema.json'), 'TOPSECRET-Zq9 {');
    const error = await refusal(dir);
    expect(error.message).toMatch(/v1\.schema\.json is not valid JSON/);
    expectNoContent(error, 'TOPSECRET');
  });
});

describe('types holding / or : round-trip through the snapshot', () => {
  it('billing/order.paid: snapshotted, read back, a breaking change fails, --prune keeps it', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'eventlane-slash-')), 'contracts');
    const declared = [
      contract('billing/order.paid'),
      contract('billing:refund.issued'),
      contract('order.paid'),
    ];
    await writeSnapshot(dir, snapshotContracts(declared));
    expect((await readdir(dir)).sort()).toEqual([
      'billing%2Forder.paid',
      'billing%3Arefund.issued',
      'order.paid',
    ]);
    const snapshot = await readSnapshot(dir);
    expect(Object.keys(snapshot).sort()).toEqual([
      'billing/order.paid',
      'billing:refund.issued',
      'order.paid',
    ]);
    expect(snapshot['billing/order.paid']!.versions[1]!.schema).toEqual(contract('x').jsonSchema(1));

    const broken = await checkCompatibility({
      contracts: [contract('billing/order.paid', paid.omit({ amount: true })), ...declared.slice(1)],
      snapshot,
    });
    expect(broken.ok).toBe(false);
    expect(broken.findings.filter((f) => f.severity === 'error').map((f) => [f.type, f.rule])).toEqual([
      ['billing/order.paid', 'field-removed'],
    ]);

    await writeSnapshot(dir, snapshotContracts(declared, snapshot), { prune: true });
    expect(Object.keys(await readSnapshot(dir)).sort()).toEqual([
      'billing/order.paid',
      'billing:refund.issued',
      'order.paid',
    ]);
  });

  it('reads a snapshot written by the old naming (nested folders) and moves it on the next write', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'eventlane-old-')), 'contracts');
    const c = contract('billing/order.paid');
    const old = join(dir, 'billing', 'order.paid');
    await mkdir(old, { recursive: true });
    const { versions: _, ...meta } = snapshotContracts([c])['billing/order.paid']!;
    await writeFile(
      join(old, 'contract.json'),
      JSON.stringify({ ...meta, versions: { 1: { publishedAt: '2026-01-02', schema: 'v1.schema.json' } } }),
    );
    await writeFile(join(old, 'v1.schema.json'), JSON.stringify(c.jsonSchema(1)));

    const snapshot = await readSnapshot(dir);
    expect(Object.keys(snapshot)).toEqual(['billing/order.paid']);
    expect(snapshot['billing/order.paid']!.versions[1]!.publishedAt).toBe('2026-01-02');

    await writeSnapshot(dir, snapshotContracts([c], snapshot));
    expect(await readdir(dir)).toEqual(['billing%2Forder.paid']);
    const moved = await readSnapshot(dir);
    expect(moved['billing/order.paid']!.versions[1]!.publishedAt).toBe('2026-01-02');
  });

  it('refuses a contract.json in a folder not named after its type', async () => {
    const { dir } = await folder();
    await mkdir(join(dir, 'renamed'));
    await writeFile(
      join(dir, 'renamed', 'contract.json'),
      await readFile(join(dir, 'order.paid', 'contract.json'), 'utf8'),
    );
    expect((await refusal(dir)).message).toMatch(/should be named "order.paid"/);
  });
});
