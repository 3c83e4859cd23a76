/**
 * `npm run bench -- <suite> [--json] [suite options]`: runs one benchmark suite (bench/<suite>.ts, which
 * exports `run(args, reporter)`), printing JSON lines with --json and a table otherwise.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createReporter, type Reporter } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['main.ts', 'report.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));

const [suite, ...rest] = process.argv.slice(2);
if (!suite || !suites.includes(suite)) {
  console.error(`usage: npm run bench -- <${suites.join('|')}> [--json]`);
  process.exit(2);
}
const json = rest.includes('--json');
const args = rest.filter((a) => a !== '--json');
const mod = (await import(join(here, `${suite}.ts`))) as { run(args: string[], reporter: Reporter): Promise<void> };
const reporter = createReporter(json);
await mod.run(args, reporter);
reporter.finish();
process.exit(0);
