import type { ProjectionDefinition } from '../consumers/define.js';
import { InvalidArgumentError } from '../errors.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, LOG_START, quoteIdent } from '../store/names.js';
import { readCommittedAfter } from './log.js';
import { readVersion } from './registry.js';
import { applyEvents, createTables, dropTables, tableMap, versionedName } from './tables.js';
import { claimShadowTables, markShadowTables } from './ownership.js';

export interface DriftDifference {
  /** The primary key of the row, as JSON (column → value). */
  key: Record<string, unknown>;
  /** 'missing': in the rebuild, not live; 'extra': live, not in the rebuild; 'changed': both, different content. */
  kind: 'missing' | 'extra' | 'changed';
}

export interface DriftTableReport {
  table: string;
  liveRows: number;
  shadowRows: number;
  differences: DriftDifference[];
  /** True when more differences existed than `maxKeys` allowed to list. */
  truncated: boolean;
}

export interface DriftReport {
  projection: string;
  version: number;
  /** The log checkpoint both copies were compared at. */
  checkpoint: string;
  /** True when every table has the same rows with the same content. */
  ok: boolean;
  tables: DriftTableReport[];
}

const SHADOW = 'drift';

/**
 * Folds the log from its start into shadow tables (`order_summary__drift`) up to the live version's checkpoint,
 * then compares them with the live tables by primary key (row counts, and an md5 of each row's text). The final
 * catch-up and the comparison run in one transaction holding the version's row lock, so the live tables cannot
 * move between them. The shadow tables are dropped afterwards.
 */
export async function checkDrift(
  store: EventStore,
  def: ProjectionDefinition,
  schema: string,
  options: { maxKeys?: number } = {},
): Promise<DriftReport> {
  const maxKeys = options.maxKeys ?? 1000;
  const db = store.executor as Driver;
  const q = quoteIdent(store.schema);
  const [live] = await db.query<{ version: number }>(
    `select version from ${q}.projections where name = $1 and status = 'live'`,
    [def.name],
  );
  if (live === undefined || live.version !== def.version) {
    throw new InvalidArgumentError(
      `Projection ${JSON.stringify(def.name)} v${def.version} is not live (live: ${live ? `v${live.version}` : 'none'}); ` +
        'a drift check compares the live version with a rebuild of the same definition. Wait for the switch.',
      { name: def.name },
    );
  }
  const shadow = tableMap(def, schema, SHADOW);
  const shadowNames = Object.keys(def.tables).map((table) => versionedName(table, SHADOW));
  await db.transaction(async (ex) => {
    // A table of a shadow's name that eventlane did not create is refused, never dropped.
    await claimShadowTables(ex, def, schema, shadowNames);
    await dropTables(ex, def, schema, SHADOW);
    await createTables(ex, def, schema, SHADOW);
    await markShadowTables(ex, def, schema, shadowNames);
  });
  try {
    // Most of the fold outside the locking transaction, in pages, up to the live checkpoint seen now.
    const start = await readVersion(db, q, def.name, def.version);
    let at = LOG_START;
    if (def.mode === 'async') {
      for (;;) {
        const page = await store.readLog({ after: at, limit: 5000 });
        const events = page.events.filter((e) => compareCheckpoints(e.checkpoint, start!.checkpoint) <= 0);
        if (events.length === 0) break;
        await db.transaction((ex) => applyEvents(def, ex, shadow, events, false));
        at = events[events.length - 1]!.checkpoint;
        if (events.length < page.events.length) break;
      }
    }
    return await db.transaction(async (ex) => {
      const row = await readVersion(
        ex,
        q,
        def.name,
        def.version,
        def.mode === 'inline' ? 'for update' : 'for share',
      );
      for (;;) {
        const events = (await readCommittedAfter(store, ex, at, 5000)).filter(
          (e) => def.mode === 'inline' || compareCheckpoints(e.checkpoint, row!.checkpoint) <= 0,
        );
        if (events.length === 0) break;
        await applyEvents(def, ex, shadow, events, false);
        at = events[events.length - 1]!.checkpoint;
      }
      const tables: DriftTableReport[] = [];
      for (const table of Object.keys(def.tables)) {
        const liveName = versionedName(table, def.version);
        const keys = await ex.query<{ column: string }>(
          `select a.attname as column from pg_index i
             join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
            where i.indrelid = $1::regclass and i.indisprimary order by a.attnum`,
          [`${quoteIdent(schema)}.${quoteIdent(liveName)}`],
        );
        if (keys.length === 0) {
          throw new InvalidArgumentError(
            `Table ${JSON.stringify(table)} of projection ${JSON.stringify(def.name)} has no primary key; the drift ` +
              'check compares rows by key. Declare one in its DDL.',
            { name: def.name, table },
          );
        }
        const keyExpr = `jsonb_build_object(${keys.map((k) => `'${k.column.replace(/'/g, "''")}', t.${quoteIdent(k.column)}`).join(', ')})`;
        const liveT = `${quoteIdent(schema)}.${quoteIdent(liveName)}`;
        const [counts] = await ex.query<{ l: string; s: string }>(
          `select (select count(*) from ${liveT})::text as l, (select count(*) from ${shadow[table]!})::text as s`,
        );
        const diffs = await ex.query<{ key: Record<string, unknown>; l: string | null; s: string | null }>(
          `with l as (select ${keyExpr} as k, md5(t::text) as h from ${liveT} t),
                s as (select ${keyExpr} as k, md5(t::text) as h from ${shadow[table]!} t)
           select coalesce(l.k, s.k) as key, l.h as l, s.h as s
             from l full join s on l.k = s.k
            where l.h is distinct from s.h
            order by 1 limit $1`,
          [maxKeys + 1],
        );
        tables.push({
          table,
          liveRows: Number(counts!.l),
          shadowRows: Number(counts!.s),
          differences: diffs.slice(0, maxKeys).map((d) => ({
            key: d.key,
            kind: d.l === null ? 'missing' : d.s === null ? 'extra' : 'changed',
          })),
          truncated: diffs.length > maxKeys,
        });
      }
      return {
        projection: def.name,
        version: def.version,
        checkpoint: def.mode === 'inline' ? at : row!.checkpoint,
        ok: tables.every((t) => t.differences.length === 0 && t.liveRows === t.shadowRows),
        tables,
      };
    });
  } finally {
    await db.transaction((ex) => dropTables(ex, def, schema, SHADOW));
  }
}
