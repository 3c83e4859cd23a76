import type { ProjectionDefinition } from '../consumers/define.js';
import { DuplicateProjectionError, ProjectionTableClashError, ProjectionVersionError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { quoteIdent } from '../store/names.js';
import { claimStableNames, claimVersionTables } from './ownership.js';
import { createTables, versionedName } from './tables.js';

export type VersionStatus = 'building' | 'live' | 'retired' | 'dropped';

/** A row of the projections table (snake_case, as stored). */
export interface DbProjectionVersion {
  name: string;
  version: number;
  status: VersionStatus;
  mode: 'inline' | 'async';
  read_schema: string;
  tables: string[];
  checkpoint: string;
  applied: string;
  retired_at: Date | null;
}

/** Checks a set of definitions against each other, before anything touches the database. */
export function checkDefinitions(definitions: readonly ProjectionDefinition[]): void {
  const names = new Set<string>();
  const owners = new Map<string, string>();
  for (const d of definitions) {
    if (names.has(d.name)) throw new DuplicateProjectionError(d.name);
    names.add(d.name);
    for (const table of Object.keys(d.tables)) {
      const owner = owners.get(table);
      if (owner !== undefined) throw new ProjectionTableClashError(table, d.name, owner);
      owners.set(table, d.name);
    }
  }
}

/**
 * Registers each definition's version: a new version gets its row ('building') and its tables, in one transaction
 * under an advisory lock so that two processes starting together agree. Refuses a version lower than one already
 * registered, a table another projection owns, and a name in the read schema held by an object eventlane did not
 * create.
 */
export async function registerDefinitions(
  db: { transaction<T>(fn: (ex: SqlExecutor) => Promise<T>): Promise<T> },
  q: string,
  schema: string,
  definitions: readonly ProjectionDefinition[],
): Promise<void> {
  checkDefinitions(definitions);
  await db.transaction(async (ex) => {
    await ex.query('select pg_advisory_xact_lock(hashtext($1))', [`eventlane.projections:${q}`]);
    await ex.exec(`create schema if not exists ${quoteIdent(schema)}`);
    const rows = await ex.query<DbProjectionVersion>(
      `select name, version, status, read_schema, tables from ${q}.projections where status <> 'dropped'`,
    );
    for (const d of definitions) {
      const mine = rows.filter((r) => r.name === d.name);
      const newest = Math.max(0, ...mine.map((r) => r.version));
      if (d.version < newest) throw new ProjectionVersionError(d.name, d.version, newest);
      for (const r of rows) {
        if (r.name === d.name) continue;
        const clash = r.tables.find((t) => Object.hasOwn(d.tables, t));
        if (clash !== undefined) throw new ProjectionTableClashError(clash, d.name, r.name);
      }
      // A view an earlier release made for this projection carries no mark yet: it is one when a live or retired
      // version of this projection, in this read schema, lists the table.
      await claimStableNames(ex, d, schema, (table) =>
        mine.some((r) => r.read_schema === schema && r.status !== 'building' && r.tables.includes(table)),
      );
      if (mine.some((r) => r.version === d.version)) continue;
      await claimVersionTables(
        ex,
        d,
        schema,
        Object.keys(d.tables).map((t) => versionedName(t, d.version)),
      );
      await ex.query(
        `insert into ${q}.projections (name, version, status, mode, read_schema, tables)
         values ($1, $2, 'building', $3, $4, $5)`,
        [d.name, d.version, d.mode, schema, Object.keys(d.tables)],
      );
      await createTables(ex, d, schema, d.version);
    }
  });
}

export async function readVersion(
  ex: SqlExecutor,
  q: string,
  name: string,
  version: number,
  lock = '',
): Promise<DbProjectionVersion | undefined> {
  const [row] = await ex.query<DbProjectionVersion>(
    `select name, version, status, mode, read_schema, tables, checkpoint, applied::text as applied, retired_at
       from ${q}.projections where name = $1 and version = $2 ${lock}`,
    [name, version],
  );
  return row;
}
