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

export interface ProjectionDefinition {
  readonly kind: 'projection';
  readonly name: string;
  /** Handlers by event type. Events of other types still advance the consumer's order guard. */
  readonly handlers: Readonly<Record<string, ProjectionHandler>>;
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
): { name: string; handlers: Record<string, unknown> } {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidConsumerError(
      `${what} takes { name, handlers }, got ${input === null ? 'null' : typeof input}.`,
    );
  }
  const { name, handlers } = input as { name?: unknown; handlers?: unknown };
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
  if (entries.length === 0) {
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

/**
 * A projection: handlers that only write the consumer's own tables, inside the processing transaction.
 * Replay-safe by construction (issue 6 adds tables, versions and rebuilds).
 *
 * @example
 * const totals = defineProjection({
 *   name: 'order_totals',
 *   handlers: {
 *     'order.paid': async (e, { sql }) => {
 *       await sql`insert into order_totals (id, paid) values (${e.stream}, 1) on conflict (id) do update set paid = order_totals.paid + 1`;
 *     },
 *   },
 * });
 */
export function defineProjection(definition: {
  name: string;
  handlers: Record<string, ProjectionHandler>;
}): ProjectionDefinition {
  const { name, handlers } = checkDefinition('defineProjection', definition);
  return Object.freeze({
    kind: 'projection',
    name,
    handlers: Object.freeze({ ...handlers }) as ProjectionDefinition['handlers'],
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
