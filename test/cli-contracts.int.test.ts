import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const good = 'test/fixtures/contracts/eventlane.config.ts';
const breaking = 'test/fixtures/contracts/breaking.config.ts';

/** Runs the real CLI in a child process (TypeScript through tsx, as `npm run` would). */
function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: root, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('eventlane contracts (CLI)', () => {
  it('snapshots, passes its own check, fails a breaking edit with a readable report, honours waivers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eventlane-cli-'));
    const snap = join(dir, 'contracts');

    const missing = await cli(['contracts', 'check', '--config', good, '--dir', snap]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('No snapshot in');

    const written = await cli(['contracts', 'snapshot', '--config', good, '--dir', snap]);
    expect(written.stdout).toContain('Wrote 9 files for 3 event types');
    expect(written.code).toBe(0);
    expect((await readdir(snap)).sort()).toEqual(['order.created', 'order.paid', 'order.shipped']);

    const ok = await cli(['contracts', 'check', '--config', good, '--dir', snap]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Contracts are compatible with the snapshot');

    const broken = await cli(['contracts', 'check', '--config', breaking, '--dir', snap]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('1 breaking change');
    expect(broken.stdout).toMatch(
      /BREAKING +enum-value-removed +v2 data.currency no longer accepts the value "GBP"/,
    );

    const refused = await cli(['contracts', 'snapshot', '--config', breaking, '--dir', snap]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('The snapshot was not written');

    const waived = await cli(['contracts', 'check', '--config', breaking, '--dir', snap, '--json'], {
      EVENTLANE_TEST_WAIVE: '1',
    });
    expect(waived.code).toBe(0);
    expect(JSON.parse(waived.stdout)).toMatchObject({
      ok: true,
      findings: [{ rule: 'enum-value-removed', waived: 'GBP was never enabled in production' }],
    });
  });

  it('writes the docs and reports config errors with exit code 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eventlane-docs-'));
    const docs = await cli(['contracts', 'docs', '--config', good, '--out', dir]);
    expect(docs.code).toBe(0);
    expect(await readFile(join(dir, 'events.md'), 'utf8')).toContain('# Orders events');
    expect(JSON.parse(await readFile(join(dir, 'asyncapi.json'), 'utf8'))).toMatchObject({
      asyncapi: '3.0.0',
    });

    const bad = await cli(['contracts', 'check', '--config', 'test/fixtures/contracts/absent.config.ts']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('absent.config.ts does not exist');

    const broken = await cli([
      'contracts',
      'check',
      '--config',
      'test/fixtures/contracts/throwing.config.ts',
    ]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(
      /Loading .*throwing.config.ts failed: the config could not reach its secrets/,
    );
  });

  it('a type holding "/" round-trips: a breaking change fails check, --prune keeps its snapshot', async () => {
    const snap = join(await mkdtemp(join(tmpdir(), 'eventlane-slash-')), 'contracts');
    const slash = 'test/fixtures/contracts/slash.config.ts';
    const written = await cli(['contracts', 'snapshot', '--config', slash, '--dir', snap, '--prune']);
    expect(written.code).toBe(0);
    expect(await readdir(snap)).toEqual(['billing%2Finvoice.paid']);
    expect((await cli(['contracts', 'check', '--config', slash, '--dir', snap])).code).toBe(0);

    const broken = await cli(['contracts', 'check', '--config', slash, '--dir', snap], {
      EVENTLANE_TEST_BREAK: '1',
    });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/billing\/invoice\.paid[\s\S]*field-removed/);

    const again = await cli(['contracts', 'snapshot', '--config', slash, '--dir', snap, '--prune']);
    expect(again.code).toBe(0);
    expect(await readdir(snap)).toEqual(['billing%2Finvoice.paid']);
  });

  it('refuses a snapshot whose contract.json points at /etc/passwd, exit 2, without echoing it', async () => {
    const snap = join(await mkdtemp(join(tmpdir(), 'eventlane-passwd-')), 'contracts');
    expect((await cli(['contracts', 'snapshot', '--config', good, '--dir', snap])).code).toBe(0);
    const file = join(snap, 'order.paid', 'contract.json');
    const index = JSON.parse(await readFile(file, 'utf8'));
    index.versions['1'].schema = `${'../'.repeat(30)}etc/passwd`;
    await writeFile(file, JSON.stringify(index));
    const refused = await cli(['contracts', 'check', '--config', good, '--dir', snap]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/outside its folder/);
    expect(`${refused.stdout}${refused.stderr}`).not.toMatch(/root:/);
  });
});
