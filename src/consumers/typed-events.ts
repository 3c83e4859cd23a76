import { isEventContract } from '../contracts/define-event.js';
import { createContractRegistry, type ContractRegistry } from '../contracts/registry.js';
import type { AnyEventContract } from '../contracts/types.js';
import { InvalidConsumerError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';

/** Handlers already wrapped by `upcastHandlers`, so a definition checked twice (define, then a runner) is wrapped once. */
const WRAPPED = new WeakSet<object>();

/**
 * Checks the `events` of a typed consumer: an array of contracts made with defineEvent (or a store, whose contracts
 * are taken), each type once, and every
 * handler key one of their types (a handler for an undeclared type could never see the event its types promise).
 * Returns a frozen copy, or undefined for an untyped consumer.
 */
export function checkConsumerEvents(
  where: string,
  name: string,
  events: unknown,
  handlerTypes: readonly string[],
): readonly AnyEventContract[] | undefined {
  if (events === undefined) return undefined;
  if (isStore(events)) {
    // A store typed by its events: its contracts. A store without contracts gives an untyped consumer.
    const declared = events.contracts?.list();
    return declared === undefined ? undefined : checkConsumerEvents(where, name, declared, handlerTypes);
  }
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidConsumerError(
      `${where} ${JSON.stringify(name)}: events must be a non-empty array of the contracts (defineEvent) it handles.`,
      { name },
    );
  }
  const types = new Set<string>();
  events.forEach((contract: unknown, i) => {
    if (!isEventContract(contract)) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: events[${i}] is not a contract made with defineEvent.`,
        { name, index: i },
      );
    }
    if (types.has(contract.type)) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: events lists ${JSON.stringify(contract.type)} twice; list each contract once.`,
        { name, type: contract.type },
      );
    }
    types.add(contract.type);
  });
  for (const type of handlerTypes) {
    if (!types.has(type)) {
      throw new InvalidConsumerError(
        `${where} ${JSON.stringify(name)}: there is a handler for ${JSON.stringify(type)}, which none of its events ` +
          `declares (${[...types].join(', ')}). Fix the handler key, or add the type's contract to events.`,
        { name, type },
      );
    }
  }
  return Object.freeze([...(events as AnyEventContract[])]);
}

function isStore(value: unknown): value is { contracts: ContractRegistry | undefined } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    'contracts' in value &&
    typeof (value as { readStream?: unknown }).readStream === 'function'
  );
}

function registryOf(events: readonly AnyEventContract[]): ContractRegistry {
  return createContractRegistry(events, { undeclaredEvents: 'allow' });
}

/**
 * Wraps the handlers of a typed consumer so that each sees its event at the contract's current version, as its
 * type says, also when the store it runs on declares no contracts. An event already current passes through as is
 * (one comparison); the stored event is never changed.
 */
export function upcastHandlers<H extends (event: StoredEvent, context: never) => Promise<void>>(
  handlers: Readonly<Record<string, H>>,
  events: readonly AnyEventContract[] | undefined,
): Readonly<Record<string, H>> {
  if (events === undefined) return handlers;
  const registry = registryOf(events);
  const out = Object.create(null) as Record<string, H>;
  for (const [type, handler] of Object.entries(handlers)) {
    if (WRAPPED.has(handler)) {
      out[type] = handler;
      continue;
    }
    const wrapped = ((event: StoredEvent, context: never) => handler(registry.upcast(event), context)) as H;
    WRAPPED.add(wrapped);
    out[type] = wrapped;
  }
  return Object.freeze(out);
}

/** `upcastHandlers` for a projection's batch handler. */
export function upcastBatch<B extends (events: readonly StoredEvent[], context: never) => Promise<void>>(
  batch: B | undefined,
  events: readonly AnyEventContract[] | undefined,
): B | undefined {
  if (batch === undefined || events === undefined || WRAPPED.has(batch)) return batch;
  const registry = registryOf(events);
  const wrapped = ((page: readonly StoredEvent[], context: never) =>
    batch(
      page.map((e) => registry.upcast(e)),
      context,
    )) as B;
  WRAPPED.add(wrapped);
  return wrapped;
}
