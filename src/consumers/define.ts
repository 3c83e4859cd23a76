import { InvalidConsumerError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';

/**
 * What a projection handler may use: the processing transaction and nothing that reaches outside it.
 * Its writes commit together with the consumer's order guard and checkpoint, or not at all.
 */
export interface ProjectionContext {
  /** `` await sql`insert into order_summary …` `` — values become parameters, never SQL text. */
  // Function-valued properties, not methods, so handlers can destructure them (`async (e, { sql }) => …`).
  readonly sql: <R extends object = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ) => Promise<R[]>;
  readonly query: <R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ) => Promise<R[]>;
  /**
   * The projection's declared tables: stable name → the quoted, schema-qualified table of the version being
   * written (`"public"."order_summary__v2"`). Write through these, never through the stable name: during a rebuild
   * the stable name is a view of the old version. Empty for projections without `tables`.
   */
  readonly tables: Readonly<Record<string, string>>;
}

/**
 * What a reactor handler may use: `effect(name, fn)` for each side effect. `fn` receives the idempotency key
 * `consumer:eventId:name`; hand it to the outside system. A completed effect is never performed again; one that
 * was in flight during a crash is performed again with the same key. The result must be JSON (it is journaled).
 */
export interface ReactorContext {
  readonly effect: <T = unknown>(name: string, fn: (idempotencyKey: string) => Promise<T>) => Promise<T>;
}

export type ProjectionHandler = (event: StoredEvent, context: ProjectionContext) => Promise<void>;
export type ReactorHandler = (event: StoredEvent, context: ReactorContext) => Promise<void>;
/** Handles a page of events (commit order) at once, e.g. with one multi-row upsert. Used by rebuilds and runs. */
export type ProjectionBatchHandler = (
  events: readonly StoredEvent[],
  context: ProjectionContext,
) => Promise<void>;

export interface ProjectionDefinition {
  readonly kind: 'projection';
  readonly name: string;
  /** Handlers by event type. Events of other types still advance the consumer's order guard. */
  readonly handlers: Readonly<Record<string, ProjectionHandler>>;
  /** The read model's version; a higher one starts a blue/green rebuild. @defaultValue 1 */
  readonly version: number;
  /**
   * Stable table name → DDL with the placeholder `:TABLE:` for the versioned table (`order_summary__v2`).
   * Empty for a handler-only projection (run by `createWorker`); projections with tables run in `createProjections`.
   */
  readonly tables: Readonly<Record<string, string>>;
  /** Inline: in the append's own transaction (read-your-writes). Async: in a runner, after commit. */
  readonly mode: 'inline' | 'async';
  /** Optional batch handler; when given, it is used instead of `handlers` for every page of events. */
  readonly batch: ProjectionBatchHandler | undefined;
}

export interface ReactorDefinition {
  readonly kind: 'reactor';
  readonly name: string;
  readonly handlers: Readonly<Record<string, ReactorHandler>>;
}

export type ConsumerDefinition = ProjectionDefinition | ReactorDefinition;

const CONSUMER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

function checkDefinition(
  what: 'defineProjection' | 'defineReactor',
  input: unknown,
  allowEmpty = false,
): { name: string; handlers: Record<string, unknown> } {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidConsumerError(
      `${what} takes { name, handlers }, got ${input === null ? 'null' : typeof input}.`,
    );
  }
  const { name } = input as { name?: unknown };
  const handlers = (input as { handlers?: unknown }).handlers ?? (allowEmpty ? {} : undefined);
  if (typeof name !== 'string' || !CONSUMER_NAME.test(name)) {
    throw new InvalidConsumerError(
      `${what}: name ${JSON.stringify(name)} is not a usable consumer name: use 1–100 letters, digits, '_', '.', '-', ` +
        'starting with a letter or digit (e.g. "order_summary"). It keys checkpoints and the effect journal, so keep it stable.',
      { name },
    );
  }
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) {
    throw new InvalidConsumerError(
      `${what} ${JSON.stringify(name)}: handlers must be an object of event type → async function.`,
      {
        name,
      },
    );
  }
  const entries = Object.entries(handlers);
  if (entries.length === 0 && !allowEmpty) {
    throw new InvalidConsumerError(
      `${what} ${JSON.stringify(name)}: handlers is empty; give at least one event type.`,
      { name },
    );
  }
  for (const [type, fn] of entries) {
    if (typeof fn !== 'function') {
      throw new InvalidConsumerError(
        `${what} ${JSON.stringify(name)}: the handler for ${JSON.stringify(type)} is ${typeof fn}, not a function.`,
        { name, type },
      );
    }
  }
  return { name, handlers: handlers as Record<string, unknown> };
}

/** A stable table name: lower-case, so that quoting is never needed in the user's own queries. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

/**
 * A projection: handlers that only write the projection's own tables, inside the processing transaction.
 * Replay-safe by construction. With `tables`, it is a versioned read model run by `createProjections`: each version
 * writes its own tables (`order_summary__v2`) and the stable name (`order_summary`) is a view of the live version.
 *
 * @example
 * const totals = defineProjection({
 *   name: 'order_totals',
 *   version: 1,
 *   tables: { order_totals: 'create table :TABLE: (id text primary key, paid int not null)' },
 *   handlers: {
 *     'order.paid': async (e, { query, tables }) => {
 *       await query(
 *         `insert into ${tables.order_totals} (id, paid) values ($1, 1)
 *          on conflict (id) do update set paid = excluded.paid + 1`,
 *         [e.stream],
 *       );
 *     },
 *   },
 * });
 */
export function defineProjection(definition: {
  name: string;
  handlers?: Record<string, ProjectionHandler>;
  /** @defaultValue 1 */
  version?: number;
  tables?: Record<string, string>;
  /** @defaultValue 'async' */
  mode?: 'inline' | 'async';
  batch?: ProjectionBatchHandler;
}): ProjectionDefinition {
  const batch = (definition as { batch?: unknown } | null)?.batch;
  if (batch !== undefined && typeof batch !== 'function') {
    throw new InvalidConsumerError(`defineProjection: batch must be an async function, got ${typeof batch}.`);
  }
  const { name, handlers } = checkDefinition('defineProjection', definition, batch !== undefined);
  const version = definition.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1 || version > 9999) {
    throw new InvalidConsumerError(
      `defineProjection ${JSON.stringify(name)}: version must be a whole number from 1 to 9999, got ${String(version)}.`,
      { name, version },
    );
  }
  const mode = definition.mode ?? 'async';
  if (mode !== 'inline' && mode !== 'async') {
    throw new InvalidConsumerError(
      `defineProjection ${JSON.stringify(name)}: mode must be 'inline' or 'async', got ${JSON.stringify(mode)}.`,
      { name, mode },
    );
  }
  const tables = definition.tables ?? {};
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) {
    throw new InvalidConsumerError(
      `defineProjection ${JSON.stringify(name)}: tables must be an object of table name → DDL with :TABLE:.`,
      { name },
    );
  }
  for (const [table, ddl] of Object.entries(tables)) {
    if (!TABLE_NAME.test(table) || table.includes('__')) {
      throw new InvalidConsumerError(
        `defineProjection ${JSON.stringify(name)}: table name ${JSON.stringify(table)} is not usable: use 1–50 ` +
          'lower-case letters, digits and single underscores, starting with a letter or \'_\' (e.g. "order_summary"); ' +
          "'__' is reserved for version suffixes.",
        { name, table },
      );
    }
    if (typeof ddl !== 'string' || !ddl.includes(':TABLE:')) {
      throw new InvalidConsumerError(
        `defineProjection ${JSON.stringify(name)}: the DDL of table ${JSON.stringify(table)} must be a string ` +
          "containing the placeholder :TABLE: (e.g. 'create table :TABLE: (id text primary key, …)').",
        { name, table },
      );
    }
  }
  if (mode === 'inline' && Object.keys(tables).length === 0) {
    throw new InvalidConsumerError(
      `defineProjection ${JSON.stringify(name)}: an inline projection needs tables (it runs in createProjections).`,
      { name },
    );
  }
  return Object.freeze({
    kind: 'projection',
    name,
    handlers: Object.freeze({ ...handlers }) as ProjectionDefinition['handlers'],
    version,
    tables: Object.freeze({ ...tables }),
    mode,
    batch: batch as ProjectionBatchHandler | undefined,
  });
}

/**
 * A reactor: handlers that cause side effects outside the database, each through `effect(name, fn)`.
 * Never runs during a rebuild.
 */
export function defineReactor(definition: {
  name: string;
  handlers: Record<string, ReactorHandler>;
}): ReactorDefinition {
  const { name, handlers } = checkDefinition('defineReactor', definition);
  return Object.freeze({
    kind: 'reactor',
    name,
    handlers: Object.freeze({ ...handlers }) as ReactorDefinition['handlers'],
  });
}

export function isConsumerDefinition(value: unknown): value is ConsumerDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<ConsumerDefinition>;
  return (
    (v.kind === 'projection' || v.kind === 'reactor') &&
    typeof v.name === 'string' &&
    typeof v.handlers === 'object'
  );
}
