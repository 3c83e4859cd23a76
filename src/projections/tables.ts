import { handlerOf, type ProjectionContext, type ProjectionDefinition } from '../consumers/define.js';
import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { quoteIdent } from '../store/names.js';
import { sqlStatement } from '../store/sql-template.js';
import { traceHandle } from '../tracing/spans.js';
import { claimStableNames, markView } from './ownership.js';

/** The table a version writes: `order_summary__v2`. `suffix` names shadow copies (`order_summary__drift`). */
export function versionedName(table: string, version: number | string): string {
  return typeof version === 'number' ? `${table}__v${version}` : `${table}__${version}`;
}

/** Stable name → quoted, schema-qualified versioned table, as handed to handlers in `context.tables`. */
export function tableMap(
  definition: ProjectionDefinition,
  schema: string,
  version: number | string,
): Record<string, string> {
  const map: Record<string, string> = {};
  for (const table of Object.keys(definition.tables)) {
    map[table] = `${quoteIdent(schema)}.${quoteIdent(versionedName(table, version))}`;
  }
  return map;
}

/** Runs the projection's DDL for one version (or a shadow copy), inside the caller's transaction. */
export async function createTables(
  executor: SqlExecutor,
  definition: ProjectionDefinition,
  schema: string,
  version: number | string,
): Promise<void> {
  const map = tableMap(definition, schema, version);
  for (const [table, ddl] of Object.entries(definition.tables)) {
    await executor.exec(ddl.replaceAll(':TABLE:', map[table]!));
  }
}

export async function dropTables(
  executor: SqlExecutor,
  definition: { tables: readonly string[] } | ProjectionDefinition,
  schema: string,
  version: number | string,
): Promise<void> {
  const names = Array.isArray(definition.tables)
    ? (definition.tables as readonly string[])
    : Object.keys(definition.tables);
  for (const table of names) {
    await executor.exec(
      `drop table if exists ${quoteIdent(schema)}.${quoteIdent(versionedName(table, version))} cascade`,
    );
  }
}

/**
 * Points every stable name at `version`'s tables. `create or replace view` swaps the definition in place, so a
 * reader never sees the name missing: it reads the old version until this transaction commits and the new one
 * after. When the new version's columns are not compatible with the old view's (PostgreSQL refuses to replace
 * then), the view is dropped and created in the same transaction, which readers see just as atomically. Only views
 * carrying eventlane's mark are replaced or dropped: any other object of the name is refused, untouched.
 */
export async function pointViews(
  executor: SqlExecutor,
  definition: ProjectionDefinition,
  schema: string,
  version: number,
): Promise<void> {
  const s = quoteIdent(schema);
  // Checked in this transaction: the object may have appeared since start (a rebuild can take hours).
  await claimStableNames(executor, definition, schema);
  for (const table of Object.keys(definition.tables)) {
    const view = `${s}.${quoteIdent(table)}`;
    const target = `${s}.${quoteIdent(versionedName(table, version))}`;
    await executor.query('savepoint eventlane_view');
    try {
      await executor.query(`create or replace view ${view} as select * from ${target}`);
      await executor.query('release savepoint eventlane_view');
    } catch {
      await executor.query('rollback to savepoint eventlane_view');
      await executor.query(`drop view if exists ${view}`);
      await executor.query(`create view ${view} as select * from ${target}`);
    }
    await markView(executor, schema, table, definition, version);
  }
}

/**
 * Hands events to the batch handler, or one by one to the handlers of their types, each call in an
 * `eventlane.handle <projection>` span unless `traced` is false (the drift check's shadow rebuild).
 */
export async function applyEvents(
  definition: ProjectionDefinition,
  executor: Pick<SqlExecutor, 'query'>,
  tables: Record<string, string>,
  events: readonly StoredEvent[],
  traced = true,
): Promise<void> {
  if (events.length === 0) return;
  const context: ProjectionContext = {
    sql: (strings, ...values) => {
      const { text, params } = sqlStatement(strings, values);
      return executor.query(text, params);
    },
    query: (text, params) => executor.query(text, params),
    tables,
  };
  const { batch } = definition;
  if (batch !== undefined) {
    if (traced) await traceHandle(definition.name, 'projection', events, () => batch(events, context));
    else await batch(events, context);
    return;
  }
  for (const event of events) {
    const handler = handlerOf(definition.handlers, event.type);
    if (handler === undefined) continue;
    if (traced) await traceHandle(definition.name, 'projection', [event], () => handler(event, context));
    else await handler(event, context);
  }
}
