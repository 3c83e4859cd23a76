/** What the specifications share: given events turned into stored ones, and expectations with readable failures. */

import { InvalidArgumentError } from '../errors.js';
import { AssertionError } from 'node:assert';
import { isDeepStrictEqual } from 'node:util';
import { createContractRegistry, type ContractRegistry } from '../contracts/registry.js';
import type { AnyEventContract } from '../contracts/types.js';
import type { NewEvent, StoredEvent } from '../events/envelope.js';
import { uuidv7 } from '../events/ids.js';
import { checkStreamName } from '../events/names.js';
import { formatCheckpoint } from '../store/names.js';

/** The stream given events go to when no stream is named. */
export const DEFAULT_STREAM = 'test-1';

/** Given events in the order they were given, each with its stream. */
export type GivenEvents = readonly { stream: string; event: NewEvent }[];

/** Adds `events` on `stream` to `given`; checks the stream name and that events is an array. */
export function addGiven(
  given: GivenEvents,
  events: readonly NewEvent[],
  stream: string,
  where: string,
): GivenEvents {
  if (!Array.isArray(events)) {
    throw new InvalidArgumentError(
      `${where}.given(events, stream?) takes an array of events, got ${typeof events}.`,
    );
  }
  checkStreamName(stream);
  return [...given, ...(events as readonly NewEvent[]).map((event) => ({ stream, event }))];
}

/** The contracts of a specification, when it was given some (`{ events: [...] }`). */
export function registryOf(events: readonly AnyEventContract[] | undefined): ContractRegistry | undefined {
  return events === undefined ? undefined : createContractRegistry(events, { undeclaredEvents: 'allow' });
}

/**
 * Given events as a store would hand them to readers: positions per stream from 1, global positions from 1, and,
 * with contracts, upcast to the current version. No database is involved.
 */
export function storedEvents(given: GivenEvents, registry?: ContractRegistry): StoredEvent[] {
  const positions = new Map<string, number>();
  const now = new Date();
  return given.map(({ stream, event }, i) => {
    const position = (positions.get(stream) ?? 0) + 1;
    positions.set(stream, position);
    const stored: StoredEvent = {
      id: event.id ?? uuidv7(),
      type: event.type,
      version: event.version ?? 1,
      stream,
      streamPosition: position,
      globalPosition: BigInt(i + 1),
      checkpoint: formatCheckpoint('1', BigInt(i + 1)),
      data: structuredClone(event.data) as StoredEvent['data'],
      metadata: event.metadata ?? {},
      occurredAt: event.occurredAt ?? now,
      recordedAt: now,
    };
    return registry === undefined ? stored : registry.upcast(stored);
  });
}

/**
 * Fails with an AssertionError whose message starts with `header` and goes on with Node's diff of the two values
 * (`+ actual - expected`). Test runners show it as is, and those that know `actual`/`expected` diff them too.
 */
export function expectEqual(actual: unknown, expected: unknown, header: string): void {
  if (isDeepStrictEqual(actual, expected)) return;
  const error = new AssertionError({ actual, expected, operator: 'deepStrictEqual' });
  error.message = `${header}\n${error.message}`;
  throw error;
}

/** Fails with an AssertionError that says `message`, showing what was there instead. */
export function fail(message: string, actual?: unknown, expected?: unknown): never {
  throw new AssertionError({ message, actual, expected, operator: 'fail' });
}

/** `{ type, data }` of each event (ids, versions and metadata left out): what specifications compare. */
export function typeAndData(
  events: readonly Pick<NewEvent, 'type' | 'data'>[],
): { type: string; data: unknown }[] {
  return events.map((e) => ({ type: e.type, data: e.data }));
}

/** How a thrown value must look for `thenThrows`: an Error class, a message (part or pattern), or a predicate. */
export type ThrownCheck =
  (new (...args: never[]) => unknown) | RegExp | string | ((error: unknown) => boolean);

export function checkThrown(error: unknown, check: ThrownCheck, header: string): void {
  const message = error instanceof Error ? error.message : String(error);
  if (typeof check === 'string' || check instanceof RegExp) {
    const ok = typeof check === 'string' ? message.includes(check) : check.test(message);
    if (!ok) fail(`${header}: it threw "${message}", which does not match ${String(check)}.`, message, check);
    return;
  }
  // An error class (Error or a subclass) is checked with instanceof; any other function is a predicate.
  const isClass = check === Error || (check.prototype as unknown) instanceof Error;
  if (
    isClass
      ? error instanceof (check as new (...args: never[]) => unknown)
      : (check as (e: unknown) => boolean)(error)
  ) {
    return;
  }
  fail(
    `${header}: it threw ${error instanceof Error ? error.name : typeof error} "${message}", not what was expected.`,
  );
}
