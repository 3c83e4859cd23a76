import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { checkCompatibility, formatReport } from '../contracts/compatibility.js';
import { renderAsyncApi, renderMarkdown } from '../contracts/docs.js';
import { readSnapshot, snapshotContracts, writeSnapshot } from '../contracts/snapshot.js';
import { loadConfig, type LoadedConfig } from './config.js';

/** Exit codes of the contracts commands. */
export const EXIT = { OK: 0, BREAKING: 1, USAGE: 2 } as const;

interface CommonOptions {
  config?: string;
  dir?: string;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A path as a person wants to read it: relative below the working directory, absolute elsewhere. */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}

function snapshotDir(loaded: LoadedConfig, option: string | undefined): string {
  if (option !== undefined) return resolve(option);
  return resolve(loaded.root, loaded.config.contracts?.dir ?? 'contracts');
}

async function runCheck(loaded: LoadedConfig, dir: string) {
  const snapshot = await readSnapshot(dir);
  const c = loaded.config.contracts;
  const report = await checkCompatibility({
    contracts: loaded.config.events ?? [],
    snapshot,
    waivers: c?.waivers ?? [],
    examples: c?.examples ?? {},
  });
  return { snapshot, report };
}

/** `eventlane contracts …`: snapshot, check and docs of the event contracts. */
export function registerContractsCommands(program: Command): void {
  const contracts = program
    .command('contracts')
    .description('event contracts: JSON Schema snapshots, the compatibility check, generated docs');

  const common = (cmd: Command) =>
    cmd
      .option(
        '-c, --config <file>',
        'config module exporting `events` and `consumers` (default: ./eventlane.config.{ts,mts,js,mjs})',
      )
      .option(
        '-d, --dir <folder>',
        'snapshot folder (default: contracts.dir of the config, else ./contracts)',
      );

  common(contracts.command('check'))
    .description('compare the contracts in code with the committed snapshot; exit 1 on a breaking change')
    .option('--json', 'print the report as JSON')
    .action(async (options: CommonOptions & { json?: boolean }) => {
      const loaded = await loadConfig(options.config);
      const dir = snapshotDir(loaded, options.dir);
      const { snapshot, report } = await runCheck(loaded, dir);
      if (Object.keys(snapshot).length === 0) {
        out(`No snapshot in ${display(dir)}: run \`eventlane contracts snapshot\` and commit the folder.`);
        process.exitCode = EXIT.BREAKING;
        return;
      }
      out(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
      process.exitCode = report.ok ? EXIT.OK : EXIT.BREAKING;
    });

  common(contracts.command('snapshot'))
    .description('write each type’s versions as JSON Schema files into the snapshot folder (commit it)')
    .option('--force', 'write even when the check finds breaking changes')
    .option('--prune', 'remove folders of types no longer declared')
    .action(async (options: CommonOptions & { force?: boolean; prune?: boolean }) => {
      const loaded = await loadConfig(options.config);
      const dir = snapshotDir(loaded, options.dir);
      const { snapshot, report } = await runCheck(loaded, dir);
      if (!report.ok && !options.force) {
        out(formatReport(report));
        out('\nThe snapshot was not written. Fix the breaking changes, waive them, or pass --force.');
        process.exitCode = EXIT.BREAKING;
        return;
      }
      const next = snapshotContracts(loaded.config.events ?? [], snapshot);
      const files = await writeSnapshot(dir, next, { prune: options.prune === true });
      out(`Wrote ${files.length} files for ${Object.keys(next).length} event types to ${display(dir)}.`);
    });

  contracts
    .command('docs')
    .description('write a Markdown catalog (events.md) and an AsyncAPI 3.0 document (asyncapi.json)')
    .option('-c, --config <file>', 'config module exporting `events` and `consumers`')
    .option(
      '-o, --out <folder>',
      'output folder (default: contracts.docsDir of the config, else ./docs/events)',
    )
    .option('--title <title>', 'title of the catalog')
    .action(async (options: { config?: string; out?: string; title?: string }) => {
      const loaded = await loadConfig(options.config);
      const c = loaded.config.contracts;
      const folder =
        options.out !== undefined ? resolve(options.out) : resolve(loaded.root, c?.docsDir ?? 'docs/events');
      const catalog = {
        contracts: loaded.config.events ?? [],
        consumers: loaded.config.consumers ?? [],
        title: options.title ?? c?.title,
        version: c?.version,
      };
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'events.md'), renderMarkdown(catalog));
      await writeFile(join(folder, 'asyncapi.json'), `${JSON.stringify(renderAsyncApi(catalog), null, 2)}\n`);
      out(`Wrote events.md and asyncapi.json to ${display(folder)}.`);
    });
}
