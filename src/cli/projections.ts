import type { Command } from 'commander';
import { checkVersionedProjection, type ProjectionDefinition } from '../consumers/define.js';
import { UnknownConsumerError } from '../errors.js';
import { parseLimit } from '../ops/input.js';
import { listProjections, type ProjectionStatus } from '../ops/inventory.js';
import { checkDrift } from '../projections/drift.js';
import { quoteIdent } from '../store/names.js';
import { duration, table } from './format.js';
import { registerRebuildCommand } from './projections-rebuild.js';
import { cliIo, EXIT_CODES, print, printJson } from './io.js';
import {
  loadOpsConfig,
  openStore,
  requireMigrated,
  withCommonOptions,
  withStore,
  type CommonOptions,
} from './ops-context.js';

function render(rows: readonly ProjectionStatus[]): string {
  if (rows.length === 0) return 'No projections recorded in this store.';
  return table([
    ['PROJECTION', 'VERSION', 'STATUS', 'MODE', 'APPLIED', 'LAG', 'LAG AGE', 'PARKED', 'STOPPED AT'],
    ...rows.map((p) => [
      p.name,
      p.version,
      p.status,
      p.mode,
      p.applied,
      p.eventsBehind,
      duration(p.secondsBehind),
      p.parked,
      p.failure
        ? `${p.failure.stream}@${p.failure.streamPosition} (${p.failure.status}, parked id ${p.failure.id})`
        : '-',
    ]),
  ]);
}

/** `eventlane projections list|drift|rebuild`. */
export function registerProjectionsCommands(program: Command): void {
  const projections = program
    .command('projections')
    .description('versioned read models: state, lag, drift, rebuild');

  withCommonOptions(projections.command('list'))
    .description('versions that build or serve, with lag and the failing event a version is stopped at')
    .action(async (options: CommonOptions) => {
      const rows = await withStore(options, (store) => listProjections(store));
      if (options.json) printJson(rows);
      else print(render(rows));
    });

  withCommonOptions(projections.command('drift'))
    .argument('<name>', 'projection name (its definition comes from `consumers` of the config)')
    .option('--max-keys <n>', 'differences to list per table (default 20)')
    .description('rebuild the live version into shadow tables and compare; exit 1 when they differ')
    .action(async (name: string, options: CommonOptions & { maxKeys?: string }) => {
      const config = await loadOpsConfig(options);
      const defs = (config.consumers ?? []).filter(
        (c): c is ProjectionDefinition =>
          c.kind === 'projection' && typeof (c as ProjectionDefinition).tables === 'object',
      );
      const def = defs.find((d) => d.name === name);
      if (def === undefined) {
        throw new UnknownConsumerError(
          name,
          defs.map((d) => d.name),
        );
      }
      const store = await openStore(options, config);
      try {
        await requireMigrated(store);
        const [row] = await store.executor.query<{ read_schema: string }>(
          `select read_schema from ${quoteIdent(store.schema)}.projections where name = $1 and status = 'live'`,
          [name],
        );
        const maxKeys = parseLimit(options.maxKeys, 20, 10_000);
        const checked = checkVersionedProjection(def, `consumers: ${name}`);
        const report = await checkDrift(store, checked, row?.read_schema ?? 'public', { maxKeys });
        if (options.json) printJson(report);
        else {
          print(`${name} v${report.version} at ${report.checkpoint}: ${report.ok ? 'no drift' : 'DRIFT'}`);
          for (const t of report.tables) {
            print(
              `  ${t.table}: ${t.liveRows} live rows, ${t.shadowRows} rebuilt, ${t.differences.length} differences`,
            );
            for (const d of t.differences) print(`    ${d.kind} ${JSON.stringify(d.key)}`);
          }
        }
        if (!report.ok) cliIo().exitCode = EXIT_CODES.FOUND;
      } finally {
        await store.close();
      }
    });

  registerRebuildCommand(projections);
}
