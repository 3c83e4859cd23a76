/** Given/then for projections: given events, then rows, on an embedded store (PGlite). */

import { InvalidArgumentError } from '../errors.js';
import type { PGlite } from '@electric-sql/pglite';
import { checkConsumerDefinition, type ProjectionDefinition } from '../consumers/define.js';
import type { AnyEventContract } from '../contracts/types.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import { applyEvents, createTables, tableMap } from '../projections/tables.js';
import { openPglite } from '../store/drivers/pglite.js';
import { createEventStore, type EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { addGiven, DEFAULT_STREAM, expectEqual, fail, type GivenEvents } from './given.js';

/** What a custom check receives: queries on the spec's database, and the projection's tables by stable name. */
export interface ProjectionDb {
  readonly query: <R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ) => Promise<R[]>;
  /** Stable table name → the quoted, schema-qualified table the handlers wrote. */
  readonly tables: Readonly<Record<string, string>>;
  /** The events as the store handed them to the projection (ids, positions, upcast data). */
  readonly events: readonly StoredEvent[];
}

export interface ProjectionGiven {
  /** More events, after those already given (on `stream`, or the default stream `test-1`). */
  given(events: readonly NewEvent[], stream?: string): ProjectionGiven;
  /**
   * The rows of the projection's table `table` (its stable name) are exactly `rows`, in any order. Values are
   * compared as the driver returns them (bigint and numeric columns as strings).
   */
  then(table: string, rows: readonly Record<string, unknown>[]): Promise<void>;
  /** A check of your own on the result (throw to fail). */
  then(check: (db: ProjectionDb) => Promise<void> | void): Promise<void>;
}

export interface ProjectionSpecOptions {
  /** Contracts: given events are validated and upcast as a store declaring them would. */
  events?: readonly AnyEventContract[];
  /**
   * A PGlite instance to run on (each run gets a schema of its own, dropped afterwards). Share one between specs
   * to skip PGlite's start-up (about a second). @defaultValue one instance shared by every spec of the process
   */
  pglite?: PGlite;
  /**
   * SQL run before the events, in the run's own schema (it is first on the search path): the tables a handler-only
   * projection writes, e.g. `create table order_totals (id text primary key, paid int)`.
   */
  setup?: string;
}

let shared: Promise<PGlite> | undefined;
let runs = 0;

function sortRows(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const key = (row: Record<string, unknown>) =>
    JSON.stringify(
      Object.keys(row)
        .sort()
        .map((k) => [k, row[k]]),
      (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
    );
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function run(
  definition: ProjectionDefinition,
  given: GivenEvents,
  options: ProjectionSpecOptions,
  check: (db: ProjectionDb) => Promise<void>,
): Promise<void> {
  const pglite = options.pglite ?? (await (shared ??= openPglite(undefined)));
  const schema = `eventlane_spec_${process.pid}_${++runs}`;
  const store: EventStore = await createEventStore({
    pglite,
    schema,
    ...(options.events === undefined ? {} : { events: options.events, undeclaredEvents: 'allow' as const }),
  });
  try {
    for (const { stream, event } of given) await store.append(stream, [event]);
    const events: StoredEvent[] = [];
    for await (const event of store.iterateLog()) events.push(event);
    const tables = tableMap(definition, schema, definition.version);
    // Unqualified names in handlers and in `setup` (a handler-only projection's own tables) land in this run's
    // schema. PGlite has a single connection, so this holds for the whole run.
    await store.executor.exec(`set search_path to ${quoteIdent(schema)}, public`);
    if (options.setup !== undefined) await store.executor.exec(options.setup);
    await createTables(store.executor, definition, schema, definition.version);
    // One transaction per event, as a runner applies them one by one (or the whole page to a batch handler).
    if (definition.batch !== undefined) {
      await store.transaction((tx) => applyEvents(definition, tx, tables, events));
    } else {
      for (const event of events)
        await store.transaction((tx) => applyEvents(definition, tx, tables, [event]));
    }
    await check({ query: (text, params) => store.executor.query(text, params), tables, events });
  } finally {
    await store.executor.exec(`reset search_path`).catch(() => undefined);
    await store.executor.exec(`drop schema if exists ${quoteIdent(schema)} cascade`).catch(() => undefined);
    await store.close();
  }
}

/**
 * A specification of a projection: `given` events, `then` the rows of its tables. Runs the projection's handlers
 * (or its batch handler) on an embedded PGlite store, in a schema of its own, in milliseconds once PGlite is up.
 *
 * @example
 * await projectionSpec(orderTotals, { events: [OrderPaid] })
 *   .given([OrderPaid.create({ amount: 10, currency: 'EUR' })], 'order-1')
 *   .then('order_totals', [{ id: 'order-1', paid: 10 }]);
 */
export function projectionSpec(
  projection: ProjectionDefinition,
  options: ProjectionSpecOptions = {},
): ProjectionGiven {
  const definition = checkConsumerDefinition(projection, 'projectionSpec');
  if (definition.kind !== 'projection') {
    throw new InvalidArgumentError(
      `projectionSpec takes a projection; ${JSON.stringify(definition.name)} is a reactor: use reactorSpec.`,
    );
  }
  const header = (given: GivenEvents) =>
    `projectionSpec ${JSON.stringify(definition.name)} after ${given.length} given event(s)`;
  const given = (list: GivenEvents): ProjectionGiven => ({
    given: (events, stream = DEFAULT_STREAM) => given(addGiven(list, events, stream, 'projectionSpec')),
    then: (
      tableOrCheck: string | ((db: ProjectionDb) => Promise<void> | void),
      rows?: readonly Record<string, unknown>[],
    ) =>
      run(definition, list, options, async (db) => {
        if (typeof tableOrCheck === 'function') {
          await tableOrCheck(db);
          return;
        }
        const table = db.tables[tableOrCheck];
        if (table === undefined || !Object.hasOwn(db.tables, tableOrCheck)) {
          fail(
            `${header(list)}: it has no table ${JSON.stringify(tableOrCheck)}; its tables: ${Object.keys(db.tables).join(', ') || 'none'}.`,
          );
        }
        const actual = await db.query(`select * from ${table}`);
        expectEqual(
          sortRows(actual),
          sortRows(rows ?? []),
          `${header(list)}, the rows of ${tableOrCheck} differ:`,
        );
      }),
  });
  return given([]);
}
