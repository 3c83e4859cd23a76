/** Given/then for reactors: given events, then the effects asked for, with their keys, recorded by a fake. */

import { InvalidArgumentError } from '../errors.js';
import {
  checkConsumerDefinition,
  handlerOf,
  type ReactorContext,
  type ReactorDefinition,
} from '../consumers/define.js';
import { idempotencyKey } from '../consumers/effects.js';
import type { AnyEventContract } from '../contracts/types.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import {
  addGiven,
  DEFAULT_STREAM,
  expectEqual,
  registryOf,
  storedEvents,
  type GivenEvents,
} from './given.js';

/** One effect a handler asked for, as the fake recorded it. */
export interface RecordedEffect {
  /** The effect's name, as passed to `effect(name, fn)`. */
  effect: string;
  /** The idempotency key the real journal would hand to `fn`: `consumer:eventId:effect`. */
  key: string;
  eventId: string;
  eventType: string;
}

export interface ReactorSpecOptions {
  /** Contracts: given events are upcast to their current version, as a store declaring them would. */
  events?: readonly AnyEventContract[];
  /**
   * What the fake does with `fn`: `'record'` records the effect and does not call `fn` (no outside system is
   * touched; `effect` resolves to what `results` gives, else undefined); `'perform'` also calls `fn(key)` (for
   * effects whose outside system is itself a fake of yours). @defaultValue 'record'
   */
  mode?: 'record' | 'perform';
  /** With `'record'`: the result `effect(name, …)` resolves to, by effect name. */
  results?: Record<string, (key: string, event: StoredEvent) => unknown>;
}

export interface ReactorGiven {
  /** More events, after those already given (on `stream`, or the default stream `test-1`). */
  given(events: readonly NewEvent[], stream?: string): ReactorGiven;
  /**
   * The handlers asked for exactly these effects, in this order, each once (compared by `effect` and `key`; build
   * keys with `idempotencyKey(reactor.name, event.id, effect)` or the template `name:eventId:effect`).
   */
  then(expected: readonly Pick<RecordedEffect, 'effect' | 'key'>[]): Promise<RecordedEffect[]>;
  /** The handlers asked for no effect. */
  thenNothing(): Promise<void>;
  /** Runs the handlers and resolves to the recorded effects, for checks of your own. */
  effects(): Promise<RecordedEffect[]>;
}

/**
 * A specification of a reactor: `given` events, `then` the effects its handlers asked for, with the idempotency
 * keys the effect journal would use. No database and no outside system: a fake records each effect. As with the
 * journal, an effect asked for twice for one event is recorded once (the second call gets the first's result).
 *
 * @example
 * const paid = OrderPaid.create({ amount: 10, currency: 'EUR' });
 * await reactorSpec(receipts).given([paid], 'order-1')
 *   .then([{ effect: 'send-receipt', key: `receipt-mailer:${paid.id}:send-receipt` }]);
 */
export function reactorSpec(reactor: ReactorDefinition, options: ReactorSpecOptions = {}): ReactorGiven {
  const definition = checkConsumerDefinition(reactor, 'reactorSpec');
  if (definition.kind !== 'reactor') {
    throw new InvalidArgumentError(
      `reactorSpec takes a reactor; ${JSON.stringify(definition.name)} is a projection: use projectionSpec.`,
    );
  }
  const registry = registryOf(options.events);
  const mode = options.mode ?? 'record';
  if (mode !== 'record' && mode !== 'perform') {
    throw new InvalidArgumentError(
      `reactorSpec: mode must be 'record' or 'perform', got ${JSON.stringify(mode)}.`,
    );
  }
  const run = async (list: GivenEvents): Promise<RecordedEffect[]> => {
    const recorded: RecordedEffect[] = [];
    const journal = new Map<string, unknown>();
    for (const event of storedEvents(list, registry)) {
      const handler = handlerOf(definition.handlers, event.type);
      if (handler === undefined) continue;
      const context: ReactorContext = {
        effect: async <T>(name: string, fn: (key: string) => Promise<T>): Promise<T> => {
          const key = idempotencyKey(definition.name, event.id, name);
          if (journal.has(key)) return journal.get(key) as T;
          recorded.push({ effect: name, key, eventId: event.id, eventType: event.type });
          const result = mode === 'perform' ? await fn(key) : options.results?.[name]?.(key, event);
          journal.set(key, result);
          return result as T;
        },
      };
      await handler(event, context);
    }
    return recorded;
  };
  const header = (list: GivenEvents) =>
    `reactorSpec ${JSON.stringify(definition.name)} after ${list.length} given event(s)`;
  const given = (list: GivenEvents): ReactorGiven => ({
    given: (events, stream = DEFAULT_STREAM) => given(addGiven(list, events, stream, 'reactorSpec')),
    async then(expected) {
      const recorded = await run(list);
      expectEqual(
        recorded.map(({ effect, key }) => ({ effect, key })),
        expected.map(({ effect, key }) => ({ effect, key })),
        `${header(list)}, the effects asked for differ:`,
      );
      return recorded;
    },
    async thenNothing() {
      const recorded = await run(list);
      expectEqual(
        recorded.map(({ effect, key }) => ({ effect, key })),
        [],
        `${header(list)}, expected no effects, but it asked for some:`,
      );
    },
    effects: () => run(list),
  });
  return given([]);
}
