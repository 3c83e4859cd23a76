/** Given/when/then for deciders: pure, no database. */

import { InvalidArgumentError } from '../errors.js';
import type { AnyEventContract, EventsOf } from '../contracts/types.js';
import type { NewEvent } from '../events/envelope.js';
import {
  addGiven,
  checkThrown,
  DEFAULT_STREAM,
  expectEqual,
  fail,
  registryOf,
  storedEvents,
  typeAndData,
  type GivenEvents,
  type ThrownCheck,
} from './given.js';

/** A decider: the decision, the fold, and the state of a new stream (what `store.handle` takes, plus the command). */
export interface Decider<C, S, E> {
  decide: (command: C, state: S) => readonly NewEvent[] | Promise<readonly NewEvent[]>;
  evolve: (state: S, event: E) => S;
  initialState: () => S;
}

export interface DeciderThen {
  /**
   * The decision returned these events: compared by `type` and `data`, in order (ids, versions and metadata are
   * left out, so `Contract.create(…)` values can be expected).
   */
  then(expected: readonly Pick<NewEvent, 'type' | 'data'>[]): Promise<void>;
  /** The decision returned no events. */
  thenNothing(): Promise<void>;
  /** The decision threw: an Error class, a part of the message, a message pattern, or a predicate. */
  thenThrows(check: ThrownCheck): Promise<void>;
}

export interface DeciderGiven<C> {
  /** More events, after those already given (on the same stream unless `stream` is named). */
  given(events: readonly NewEvent[], stream?: string): DeciderGiven<C>;
  when(command: C): DeciderThen;
}

export interface DeciderSpec<C> {
  /** The stream's events before the command. Stored events are built from them, upcast with the contracts given. */
  given(events: readonly NewEvent[], stream?: string): DeciderGiven<C>;
  when(command: C): DeciderThen;
}

function describeCommand(command: unknown): string {
  try {
    const text = JSON.stringify(command);
    return text === undefined ? String(command) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(command);
  }
}

/**
 * A specification of a decider: `given` the stream's events, `when` a command, `then` the events decided (or
 * `thenThrows`). With `events` (the contracts), given events are upcast and decided events validated against their
 * contracts, as a store declaring them would.
 *
 * @example
 * const spec = deciderSpec({ decide, evolve, initialState }, { events: [OrderPlaced, OrderPaid] });
 * await spec.given([OrderPlaced.create({ total: 10 })]).when({ pay: 10 }).then([OrderPaid.create({ amount: 10 })]);
 */
export function deciderSpec<C, S, const Cs extends readonly AnyEventContract[] = []>(
  decider: Decider<C, S, EventsOf<Cs>>,
  options: { events?: Cs } = {},
): DeciderSpec<C> {
  if (
    typeof decider?.decide !== 'function' ||
    typeof decider.evolve !== 'function' ||
    typeof decider.initialState !== 'function'
  ) {
    throw new InvalidArgumentError(
      'deciderSpec takes { decide(command, state), evolve(state, event), initialState() }.',
    );
  }
  const registry = registryOf(options.events);
  const given = (list: GivenEvents): DeciderGiven<C> => ({
    given: (events, stream = DEFAULT_STREAM) => given(addGiven(list, events, stream, 'deciderSpec')),
    when: (command) => when(list, command),
  });
  const when = (list: GivenEvents, command: C): DeciderThen => {
    const header = `deciderSpec: when ${describeCommand(command)} after ${list.length} given event(s)`;
    const run = async (): Promise<{ events: readonly NewEvent[] } | { error: unknown }> => {
      const history = storedEvents(list, registry) as unknown as EventsOf<Cs>[];
      let state = decider.initialState();
      for (const event of history) state = decider.evolve(state, event);
      let events: readonly NewEvent[];
      try {
        events = await decider.decide(command, state);
      } catch (error) {
        return { error };
      }
      if (!Array.isArray(events))
        fail(`${header}: decide returned ${typeof events}, not an array of events.`);
      if (registry !== undefined) {
        try {
          events = await registry.validate(events);
        } catch (error) {
          fail(`${header}: decide returned an event its contract refuses: ${(error as Error).message}`);
        }
      }
      return { events };
    };
    const decided = async (): Promise<readonly NewEvent[]> => {
      const outcome = await run();
      if ('error' in outcome) {
        const e = outcome.error;
        fail(
          `${header}: decide threw ${e instanceof Error ? `${e.name} "${e.message}"` : String(e)} instead of deciding.`,
        );
      }
      return outcome.events;
    };
    return {
      async then(expected) {
        expectEqual(
          typeAndData(await decided()),
          typeAndData(expected),
          `${header}, the decided events differ:`,
        );
      },
      async thenNothing() {
        expectEqual(typeAndData(await decided()), [], `${header}, expected no events, but it decided some:`);
      },
      async thenThrows(check) {
        const outcome = await run();
        if (!('error' in outcome)) {
          fail(
            `${header}: expected it to throw, but it decided ${outcome.events.length} event(s).`,
            typeAndData(outcome.events),
          );
        }
        checkThrown(outcome.error, check, header);
      },
    };
  };
  return given([]);
}
