/**
 * Every relative link of README.md and docs/**\/*.md points at a file or folder that exists (anchors are not
 * checked). Guides link tests and sources by path; a move or a rename must not leave them dangling.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function markdownFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(rel);
    return entry.name.endsWith('.md') ? [rel] : [];
  });
}

/** Relative link targets of a Markdown text, outside code blocks and code spans. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
  const links: string[] = [];
  for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    links.push(target.split('#')[0]!);
  }
  return links;
}

describe('links in README.md and docs/', () => {
  it('finds links outside code only', () => {
    expect(
      relativeLinks(
        [
          '[a](docs/a.md#x) [b](https://x.org) [c](#top)',
          '```ts',
          '[d](nowhere.md)',
          '```',
          '`[e](f.md)`',
        ].join('\n'),
      ),
    ).toEqual(['docs/a.md']);
  });

  it('every relative link resolves to a file that exists', () => {
    const dangling = ['README.md', ...markdownFiles('docs')].flatMap((file) =>
      relativeLinks(readFileSync(path.join(root, file), 'utf8'))
        .filter((target) => !existsSync(path.resolve(root, path.dirname(file), decodeURI(target))))
        .map((target) => `${file}: ${target}`),
    );
    expect(dangling).toEqual([]);
  });
});
