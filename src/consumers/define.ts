import type { AnyEventContract, EventsOf, TypedHandlers } from '../contracts/types.js';
import { InvalidConsumerError } from '../errors.js';
import { isEventType } from '../events/names.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../store/event-store.js';
import { checkConsumerEvents, upcastBatch, upcastHandlers } from './typed-events.js';

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
  /** The contracts the projection declared it handles (`events`); undefined for an untyped projection. */
  readonly events?: readonly AnyEventContract[] | undefined;
}

export interface ReactorDefinition {
  readonly kind: 'reactor';
  readonly name: string;
  readonly handlers: Readonly<Record<string, ReactorHandler>>;
  /** The contracts the reactor declared it handles (`events`); undefined for an untyped reactor. */
  readonly events?: readonly AnyEventContract[] | undefined;
}

export type ConsumerDefinition = ProjectionDefinition | ReactorDefinition;

const CONSUMER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/**
 * The handler of `type`, looked up as an own key only: event types such as `constructor`, `toString` or `valueOf`
 * are valid, and must find no handler rather than a function of `Object.prototype`.
 */
export function handlerOf<H>(handlers: Readonly<Record<string, H>>, type: string): H | undefined {
  return Object.hasOwn(handlers, type) ? handlers[type] : undefined;
}

/** A frozen copy without a prototype, so that no lookup by event type can reach `Object.prototype`. */
function ownCopy<T>(source: object): Readonly<Record<string, T>> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of Object.entries(source)) out[key] = value as T;
  return Object.freeze(out);
}

/** A short, safe rendering of an offending value for a message (never throws, unlike JSON.stringify of a BigInt). */
function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${value}`;
  return describeValue(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/**
 * The checks shared by `defineProjection`, `defineReactor` and the runners, which re-run them on what they are
 * given (a hand-built or altered definition must not get past them). `where` starts every message.
 */
function checkDefinition(
  where: string,
  input: unknown,
  allowEmpty = false,
): { name: string; handlers: Record<string, unknown> } {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidConsumerError(`${where} takes { name, handlers }, got ${describeValue(input)}.`);
  }
  const { name } = input as { name?: unknown };
  const handlers = (input as { handlers?: unknown }).handlers ?? (allowEmpty ? {} : undefined);
  if (typeof name !== 'string' || !CONSUMER_NAME.test(name)) {
    throw new InvalidConsumerError(
      `${where}: name ${showValue(name)} is not a usable consumer name: use 1–100 letters, digits, '_', '.', '-', ` +
        'starting with a letter or digit (e.g. "order_summary"). It keys checkpoints and the effect journal, so keep it stable.',
      { name: typeof name === 'string' ? name : typeof name },
    );
  }
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: handlers must be an object of event type → async function, got ${describeValue(handlers)}.`,
      { name },
    );
  }
  const entries = Object.entries(handlers);
  if (entries.length === 0 && !allowEmpty) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: handlers is empty; give at least one event type.`,
      { name },
    );
  }
  for (const [type, fn] of entries) {
    if (!isEventType(type)) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: handler key ${JSON.stringify(type)} is not a valid event type, so it could ` +
          'never be called: use the type as appended (letters, digits and underscores in segments separated by ' +
          '".", "-", ":" or "/", starting with a letter, e.g. "order.paid").',
        { name, type },
      );
    }
    if (typeof fn !== 'function') {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: the handler for ${JSON.stringify(type)} is ${describeValue(fn)}, not a function.`,
        { name, type },
      );
    }
  }
  return { name, handlers: handlers as Record<string, unknown> };
}

/** A stable table name: lower-case, so that quoting is never needed in the user's own queries. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

function buildProjection(where: string, definition: unknown): ProjectionDefinition {
  const d = definition as Partial<Record<keyof ProjectionDefinition, unknown>> | null;
  const batch = typeof d === 'object' && d !== null ? d.batch : undefined;
  if (batch !== undefined && typeof batch !== 'function') {
    throw new InvalidConsumerError(`${where}: batch must be an async function, got ${describeValue(batch)}.`);
  }
  const { name, handlers } = checkDefinition(where, definition, batch !== undefined);
  const events = checkConsumerEvents(where, name, d!.events, Object.keys(handlers));
  const version = d!.version ?? 1;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1 || version > 9999) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: version must be a whole number from 1 to 9999, got ${showValue(version)}.`,
      { name, version: showValue(version) },
    );
  }
  const mode = d!.mode ?? 'async';
  if (mode !== 'inline' && mode !== 'async') {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: mode must be 'inline' or 'async', got ${showValue(mode)}.`,
      { name, mode: showValue(mode) },
    );
  }
  const tables = d!.tables ?? {};
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: tables must be an object of table name → DDL with :TABLE:, got ${describeValue(tables)}.`,
      { name },
    );
  }
  for (const [table, ddl] of Object.entries(tables)) {
    if (!TABLE_NAME.test(table) || table.includes('__')) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: table name ${JSON.stringify(table)} is not usable: use 1–50 ` +
          'lower-case letters, digits and single underscores, starting with a letter or \'_\' (e.g. "order_summary"); ' +
          "'__' is reserved for version suffixes.",
        { name, table },
      );
    }
    if (typeof ddl !== 'string' || !ddl.includes(':TABLE:')) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: the DDL of table ${JSON.stringify(table)} must be a string ` +
          "containing the placeholder :TABLE: (e.g. 'create table :TABLE: (id text primary key, …)').",
        { name, table },
      );
    }
  }
  if (mode === 'inline' && Object.keys(tables).length === 0) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: an inline projection needs tables (it runs in createProjections).`,
      { name },
    );
  }
  return Object.freeze({
    kind: 'projection',
    name,
    handlers: upcastHandlers(ownCopy<ProjectionHandler>(handlers), events),
    version,
    tables: ownCopy<string>(tables),
    mode,
    batch: upcastBatch(batch as ProjectionBatchHandler | undefined, events),
    events,
  });
}

function buildReactor(where: string, definition: unknown): ReactorDefinition {
  const { name, handlers } = checkDefinition(where, definition);
  const events = checkConsumerEvents(
    where,
    name,
    (definition as { events?: unknown }).events,
    Object.keys(handlers),
  );
  return Object.freeze({
    kind: 'reactor',
    name,
    handlers: upcastHandlers(ownCopy<ReactorHandler>(handlers), events),
    events,
  });
}

/**
 * A projection: handlers that only write the projection's own tables, inside the processing transaction.
 * Replay-safe by construction. With `tables`, it is a versioned read model run by `createProjections`: each version
 * writes its own tables (`order_summary__v2`) and the stable name (`order_summary`) is a view of the live version.
 * With `events` (the contracts handled), each handler's event is typed by its contract: `e.data` is the current
 * version's data (upcast at run time too), and a handler key that no contract declares is refused.
 *
 * @example
 * const totals = defineProjection({
 *   name: 'order_totals',
 *   events: [OrderPaid],
 *   version: 1,
 *   tables: { order_totals: 'create table :TABLE: (id text primary key, paid int not null)' },
 *   handlers: {
 *     'order.paid': async (e, { query, tables }) => {
 *       await query(
 *         `insert into ${tables.order_totals} (id, paid) values ($1, $2)
 *          on conflict (id) do update set paid = ${tables.order_totals}.paid + excluded.paid`,
 *         [e.stream, e.data.amount],
 *       );
 *     },
 *   },
 * });
 */
export function defineProjection<const Cs extends readonly AnyEventContract[]>(definition: {
  name: string;
  /** The contracts of the events handled: handlers are typed by them, and their keys checked against them. */
  events: Cs;
  handlers?: TypedHandlers<EventsOf<Cs>, ProjectionContext>;
  /** @defaultValue 1 */
  version?: number;
  tables?: Record<string, string>;
  /** @defaultValue 'async' */
  mode?: 'inline' | 'async';
  batch?: (events: readonly EventsOf<Cs>[], context: ProjectionContext) => Promise<void>;
}): ProjectionDefinition;
export function defineProjection<E extends StoredEvent<string, unknown>>(definition: {
  name: string;
  /** A store typed by its events (`createEventStore({ events })`): handlers are typed by its contracts. */
  events: EventStore<E>;
  handlers?: TypedHandlers<E, ProjectionContext>;
  /** @defaultValue 1 */
  version?: number;
  tables?: Record<string, string>;
  /** @defaultValue 'async' */
  mode?: 'inline' | 'async';
  batch?: (events: readonly E[], context: ProjectionContext) => Promise<void>;
}): ProjectionDefinition;
export function defineProjection(definition: {
  name: string;
  handlers?: Record<string, ProjectionHandler>;
  /** @defaultValue 1 */
  version?: number;
  tables?: Record<string, string>;
  /** @defaultValue 'async' */
  mode?: 'inline' | 'async';
  batch?: ProjectionBatchHandler;
}): ProjectionDefinition;
export function defineProjection(definition: unknown): ProjectionDefinition {
  return buildProjection('defineProjection', definition);
}

/**
 * A reactor: handlers that cause side effects outside the database, each through `effect(name, fn)`.
 * Never runs during a rebuild. With `events` (the contracts handled), each handler's event is typed by its contract.
 *
 * @example
 * const receipts = defineReactor({
 *   name: 'receipt-mailer',
 *   events: [OrderPaid],
 *   handlers: {
 *     'order.paid': async (e, { effect }) => {
 *       await effect('send-receipt', (key) => mailer.send(e.data.amount, { idempotencyKey: key }));
 *     },
 *   },
 * });
 */
export function defineReactor<const Cs extends readonly AnyEventContract[]>(definition: {
  name: string;
  /** The contracts of the events handled: handlers are typed by them, and their keys checked against them. */
  events: Cs;
  handlers: TypedHandlers<EventsOf<Cs>, ReactorContext>;
}): ReactorDefinition;
export function defineReactor<E extends StoredEvent<string, unknown>>(definition: {
  name: string;
  /** A store typed by its events (`createEventStore({ events })`): handlers are typed by its contracts. */
  events: EventStore<E>;
  handlers: TypedHandlers<E, ReactorContext>;
}): ReactorDefinition;
export function defineReactor(definition: {
  name: string;
  handlers: Record<string, ReactorHandler>;
}): ReactorDefinition;
export function defineReactor(definition: unknown): ReactorDefinition {
  return buildReactor('defineReactor', definition);
}

/**
 * Re-runs the checks of `defineProjection` / `defineReactor` on a definition handed to a runner (it may be built
 * by hand, or copied and changed) and returns the checked, frozen copy the runner uses. `where` names it in errors,
 * e.g. `createWorker: consumers[2]`.
 */
export function checkConsumerDefinition(value: unknown, where: string): ConsumerDefinition {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidConsumerError(
      `${where} is ${describeValue(value)}, not a consumer definition: build it with defineProjection or defineReactor.`,
    );
  }
  const { kind } = value as { kind?: unknown };
  if (kind === 'projection') return buildProjection(where, value);
  if (kind === 'reactor') return buildReactor(where, value);
  throw new InvalidConsumerError(
    `${where} has kind ${showValue(kind)}, so it is not a consumer definition: build it with ` +
      "defineProjection (kind 'projection') or defineReactor (kind 'reactor').",
    { kind: showValue(kind) },
  );
}

/** `checkConsumerDefinition` for `createProjections`, which runs only projections with tables. */
export function checkVersionedProjection(value: unknown, where: string): ProjectionDefinition {
  const definition = checkConsumerDefinition(value, where);
  if (definition.kind === 'reactor') {
    throw new InvalidConsumerError(
      `${where} is the reactor ${JSON.stringify(definition.name)}: createProjections runs versioned projections only. ` +
        `Run reactors with createWorker(store, { from: 'log', consumers: [${definition.name}] }).`,
      { name: definition.name, kind: 'reactor' },
    );
  }
  if (Object.keys(definition.tables).length === 0) {
    throw new InvalidConsumerError(
      `${where} is the projection ${JSON.stringify(definition.name)}, which declares no tables: createProjections ` +
        "runs versioned read models. Give it tables ({ table: 'create table :TABLE: (…)' }) and write through " +
        'context.tables, or run it as a handler-only projection with createWorker.',
      { name: definition.name },
    );
  }
  return definition;
}
