import type { ProjectionDefinition } from '../consumers/define.js';
import { ProjectionObjectTakenError } from '../errors.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { quoteIdent } from '../store/names.js';

/**
 * The comment eventlane puts on each stable view it creates. A view carries it, or eventlane did not make it: only
 * marked views are replaced or dropped, so a user's own `order_summary` view or table in the read schema is never
 * taken over. (A person who re-comments the view removes the mark; the next start then refuses it.)
 */
export const VIEW_MARK = 'eventlane:projection-view';
/** The comment on each shadow table a drift check creates (`order_summary__drift`): only those are dropped. */
export const SHADOW_MARK = 'eventlane:drift-shadow';

/** What already holds a name in the read schema. */
export interface ExistingObject {
  name: string;
  /** `'table'`, `'view'`, `'materialized view'`, `'index'`, `'type'`, … */
  kind: string;
  /** True for a view that carries eventlane's mark. */
  marked: boolean;
  /** Its comment (`obj_description`), if any. */
  comment: string | null;
}

const KINDS: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
  S: 'sequence',
  i: 'index',
  I: 'partitioned index',
  c: 'composite type',
  t: 'TOAST table',
};

/** The relations and stand-alone types of `schema` named in `names` (PostgreSQL gives them one name space). */
export async function existingObjects(
  ex: Pick<SqlExecutor, 'query'>,
  schema: string,
  names: readonly string[],
): Promise<Map<string, ExistingObject>> {
  const rows = await ex.query<{ name: string; relkind: string; comment: string | null }>(
    `select c.relname as name, c.relkind::text as relkind, obj_description(c.oid, 'pg_class') as comment
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = any($2::text[])
     union all
     select t.typname, 'type', null
       from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
      where n.nspname = $1 and t.typname = any($2::text[]) and t.typrelid = 0`,
    [schema, [...names]],
  );
  const found = new Map<string, ExistingObject>();
  for (const r of rows) {
    if (found.has(r.name)) continue;
    found.set(r.name, {
      name: r.name,
      kind: KINDS[r.relkind] ?? (r.relkind === 'type' ? 'type' : 'relation'),
      marked: r.relkind === 'v' && (r.comment ?? '').startsWith(VIEW_MARK),
      comment: r.comment,
    });
  }
  return found;
}

/** Puts eventlane's mark on a stable view it created (or adopted from a release that did not mark views). */
export async function markView(
  ex: Pick<SqlExecutor, 'query'>,
  schema: string,
  table: string,
  definition: ProjectionDefinition,
  version: number,
): Promise<void> {
  const text = `${VIEW_MARK} projection=${definition.name} version=${version}. Managed by eventlane: replaced on each switch.`;
  await ex.query(
    `comment on view ${quoteIdent(schema)}.${quoteIdent(table)} is '${text.replaceAll("'", "''")}'`,
  );
}

/**
 * Refuses to go on when a stable name of `definition` is held by an object eventlane did not create. `adoptable`
 * says whether an unmarked view is one an earlier release made for this projection (then it is marked, not refused).
 */
export async function claimStableNames(
  ex: Pick<SqlExecutor, 'query'>,
  definition: ProjectionDefinition,
  schema: string,
  adoptable: (table: string) => boolean = () => false,
): Promise<void> {
  const tables = Object.keys(definition.tables);
  const found = await existingObjects(ex, schema, tables);
  for (const table of tables) {
    const object = found.get(table);
    if (object === undefined || object.marked) continue;
    if (object.kind === 'view' && adoptable(table)) {
      await markView(ex, schema, table, definition, definition.version);
      continue;
    }
    throw new ProjectionObjectTakenError(definition.name, schema, table, object.kind, 'stable view');
  }
}

/**
 * Refuses to go on when one of `names` is held by an object that `ours` does not recognise as eventlane's: `role`
 * says what eventlane wanted the name for.
 */
async function claimNames(
  ex: Pick<SqlExecutor, 'query'>,
  definition: ProjectionDefinition,
  schema: string,
  names: readonly string[],
  role: string,
  ours: (object: ExistingObject) => boolean,
): Promise<void> {
  const found = await existingObjects(ex, schema, names);
  for (const name of names) {
    const object = found.get(name);
    if (object !== undefined && !ours(object)) {
      throw new ProjectionObjectTakenError(definition.name, schema, name, object.kind, role);
    }
  }
}

/** Refuses to create a version's tables over objects that already hold their names. */
export function claimVersionTables(
  ex: Pick<SqlExecutor, 'query'>,
  definition: ProjectionDefinition,
  schema: string,
  names: readonly string[],
): Promise<void> {
  return claimNames(ex, definition, schema, names, 'versioned table', () => false);
}

/**
 * Refuses to create or drop a drift check's shadow tables over objects eventlane did not create: a shadow name held
 * by anything but a table carrying SHADOW_MARK (left by an earlier check that crashed) is the user's.
 */
export function claimShadowTables(
  ex: Pick<SqlExecutor, 'query'>,
  definition: ProjectionDefinition,
  schema: string,
  names: readonly string[],
): Promise<void> {
  return claimNames(
    ex,
    definition,
    schema,
    names,
    'drift check (shadow table)',
    (object) => object.kind === 'table' && (object.comment ?? '').startsWith(SHADOW_MARK),
  );
}

/** Marks the shadow tables a drift check just created as its own. */
export async function markShadowTables(
  ex: Pick<SqlExecutor, 'query'>,
  definition: ProjectionDefinition,
  schema: string,
  names: readonly string[],
): Promise<void> {
  const text = `${SHADOW_MARK} projection=${definition.name}. Managed by eventlane: dropped after each drift check.`;
  for (const name of names) {
    await ex.query(
      `comment on table ${quoteIdent(schema)}.${quoteIdent(name)} is '${text.replaceAll("'", "''")}'`,
    );
  }
}
