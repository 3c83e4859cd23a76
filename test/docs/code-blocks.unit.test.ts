/**
 * Every TypeScript code block of README.md and docs/**\/*.md is type-checked (test/docs/code-blocks.ts), together
 * with a few Markdown fixtures that show the checker fails a broken block — all in one compiler Program.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkMarkdown, extractBlocks, type CheckResult } from './code-blocks.js';
import { scaled } from '../support/time.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function markdownFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(rel);
    return entry.name.endsWith('.md') ? [rel] : [];
  });
}

const docs = ['README.md', ...markdownFiles('docs')];

/** Fixtures: their names start with `fixture/` so their results can be told from the real docs'. */
const fixtures = new Map<string, string>([
  [
    'fixture/broken.md',
    [
      '# Broken',
      '',
      '```ts',
      "import { createEventStore } from 'eventlane';",
      '',
      'const store = await createEventStore({});',
      "await store.append('order-1', [{ type: 'order.paid', data: { amount: 1 } }], { expectedVersion: 'soon' });",
      '```',
    ].join('\n'),
  ],
  ['fixture/undeclared.md', ['```typescript', 'await store.readStream("order-1");', '```'].join('\n')],
  [
    'fixture/prelude-and-continue.md',
    [
      '<!-- ts-prelude',
      "import type { EventStore } from 'eventlane';",
      'declare const store: EventStore;',
      '-->',
      '',
      '```ts',
      "const events = await store.readStream('order-1');",
      '```',
      '',
      'Text between.',
      '',
      '```ts continue',
      'const first: string = events[0]?.type ?? "none";',
      'const wrong: number = first;',
      '```',
      '',
      '```ts no-check',
      'this is not TypeScript at all',
      '```',
    ].join('\n'),
  ],
]);

let result: CheckResult;

beforeAll(() => {
  const files = new Map<string, string>(docs.map((f) => [f, readFileSync(path.join(root, f), 'utf8')]));
  for (const [name, text] of fixtures) files.set(name, text);
  result = checkMarkdown(root, files);
}, scaled(120_000));

const ofFixture = (file: string) => result.diagnostics.filter((d) => d.file === file);

describe('code blocks in README.md and docs/', () => {
  it('every ts block compiles', () => {
    const real = result.diagnostics.filter((d) => !d.file.startsWith('fixture/'));
    const report = real.map((d) => `${d.file}:${d.line}: ${d.message}`).join('\n');
    expect(report).toBe('');
  });

  it('counts and lists the blocks it skips', () => {
    const skipped = result.skipped.filter((b) => !b.file.startsWith('fixture/'));
    const blocks = docs.flatMap((f) => extractBlocks(f, readFileSync(path.join(root, f), 'utf8')));
    console.info(
      `${blocks.length} ts blocks in ${docs.length} Markdown files; ${skipped.length} skipped (no-check)` +
        skipped.map((b) => `\n  ${b.file}:${b.line}`).join(''),
    );
    expect(blocks.length).toBeGreaterThan(40);
    // Skips are for fragments only: keep them rare.
    expect(skipped.length).toBeLessThanOrEqual(Math.ceil(blocks.length / 10));
  });
});

describe('the checker itself', () => {
  it('fails a block with a type error, pointing at its Markdown line', () => {
    const found = ofFixture('fixture/broken.md');
    expect(found).toHaveLength(1);
    expect(found[0]!.line).toBe(7);
    expect(found[0]!.message).toMatch(/"soon"/);
  });

  it('fails a block that uses a name nothing declares', () => {
    const found = ofFixture('fixture/undeclared.md');
    expect(found.map((d) => d.message)).toEqual([expect.stringMatching(/Cannot find name 'store'/)]);
    expect(found[0]!.line).toBe(2);
  });

  it('applies a ts-prelude, joins a continue block to the one before, and skips no-check', () => {
    const found = ofFixture('fixture/prelude-and-continue.md');
    expect(found).toHaveLength(1);
    expect(found[0]!.line).toBe(14);
    expect(found[0]!.message).toMatch(/Type 'string' is not assignable to type 'number'/);
    expect(result.skipped.filter((b) => b.file === 'fixture/prelude-and-continue.md')).toHaveLength(1);
  });

  it('reads fence flags, indented fences and only ts/typescript blocks', () => {
    const blocks = extractBlocks(
      'x.md',
      ['- item', '', '  ```ts no-check', '  const a = 1;', '  ```', '', '```sh', 'npm ci', '```'].join('\n'),
    );
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.code).toBe('const a = 1;');
    expect(blocks[0]!.line).toBe(4);
    expect([...blocks[0]!.flags]).toEqual(['no-check']);
  });
});
