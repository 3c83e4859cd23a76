/**
 * Command handling: read a stream (from a snapshot when one exists), fold it into a state, decide, append with the
 * version that was read, and on a concurrency conflict do it all again, a bounded number of times with jitter.
 */

import { CommandConflictError, describeValue, InvalidArgumentError, isEventlaneError } from '../errors.js';
import type { NewEvent } from '../events/envelope.js';
import type { AppendResult } from './append.js';
import { DEFAULT_READ_STREAM_LIMIT, type ReadStreamOptions } from './read.js';
import { readSnapshot, writeSnapshot, type SnapshotOptions } from './snapshots.js';
import { isStateCache, type StateCache } from './state-cache.js';

/** What a decision may use: where the stream stands, and the unit of work the events are appended in. */
export interface CommandContext<Tx> {
  readonly stream: string;
  /** The stream version the state was folded up to (0 for a new stream); the append expects exactly this version. */
  readonly version: number;
  /**
   * The transaction of this attempt: SQL run through it (`tx.sql`) commits with the events, or rolls back with them
   * when the append meets a conflict (the whole attempt then runs again, decision included).
   */
  readonly tx: Tx;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
}

/**
 * The decision: given the current state, the events to append (none when there is nothing to do). It may throw to
 * refuse the command: nothing is written. It may run more than once (once per attempt), so keep effects out of it.
 */
export type Decide<S, Tx, N extends NewEvent<string, unknown> = NewEvent> = (
  state: S,
  context: CommandContext<Tx>,
) => readonly N[] | Promise<readonly N[]>;

export interface HandleOptions<S, E> {
  /** Folds one event into the state: pure, synchronous, returns the next state. */
  evolve: (state: S, event: E) => S;
  /** The state of a stream without events. A function, so that each command starts from a fresh value. */
  initialState: () => S;
  /**
   * How many times to try again after a concurrency conflict (another writer appended between the read and the
   * append). Each retry waits a random time up to 5 ms × 2^retry (at most 250 ms), so that contending writers spread
   * out. @defaultValue 10
   */
  maxRetries?: number;
  /**
   * Keep the folded state in the store every `every` events, so that the next command reads only the events after
   * it. The state must be plain JSON (it is stored as jsonb). @defaultValue none: every command folds the whole stream
   */
  snapshots?: SnapshotOptions;
  /**
   * Keep each handled stream's folded state in this process (`createStateCache()`, one per decider), so that the
   * next command on the stream decides from it and appends with one statement, without reading the stream. Safe
   * against other writers: the append expects the cached version, and a conflict drops the entry and reads again.
   * States must be values (never changed in place). `store.handle` only, on stores without personal fields.
   * @defaultValue none: every command reads its stream
   */
  cache?: StateCache<S>;
}

export interface HandleResult<S, E> {
  /** The state after the new events (the state that was read when the decision returned none). */
  state: S;
  /** The stream's version after the command. */
  version: number;
  /** The new events, as stored. Empty when the decision returned none. */
  events: E[];
  /** The append's result; undefined when the decision returned no events and nothing was written. */
  result: AppendResult | undefined;
  /** How many attempts the command took (1 without a conflict). */
  attempts: number;
}

/** What one attempt needs of a transaction: the store's own transaction object satisfies it. */
export interface CommandTransaction<E> {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  append(
    stream: string,
    events: readonly NewEvent[],
    options?: { expectedVersion?: number },
  ): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<E[]>;
}

export const DEFAULT_MAX_RETRIES = 10;
const MAX_RETRIES_LIMIT = 1000;
const RETRY_BASE_MS = 5;
const RETRY_CAP_MS = 250;
const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const OPTION_KEYS = new Set(['evolve', 'initialState', 'maxRetries', 'snapshots', 'cache']);
const SNAPSHOT_KEYS = new Set(['name', 'every', 'version']);

function bad(message: string): never {
  throw new InvalidArgumentError(`handle: ${message}`);
}

function wholeNumber(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    bad(`${what} must be a whole number from ${min} to ${max}, got ${describeValue(value)}.`);
  }
  return value;
}

/** Checks the options of `handle` before anything reads the stream; returns the retry limit. */
export function checkHandleOptions(decide: unknown, options: unknown): number {
  if (typeof decide !== 'function') {
    bad(`the decision must be a function (state, context) => events, got ${describeValue(decide)}.`);
  }
  if (typeof options !== 'object' || options === null) {
    bad(`options { evolve, initialState } are required, got ${describeValue(options)}.`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key))
      bad(`unknown option ${JSON.stringify(key)}. Known: ${[...OPTION_KEYS].join(', ')}.`);
  }
  if (typeof o.evolve !== 'function')
    bad(`evolve must be a function (state, event) => state, got ${describeValue(o.evolve)}.`);
  if (typeof o.initialState !== 'function') {
    bad(
      `initialState must be a function () => state (a fresh value per command), got ${describeValue(o.initialState)}.`,
    );
  }
  const retries =
    o.maxRetries === undefined
      ? DEFAULT_MAX_RETRIES
      : wholeNumber(o.maxRetries, 'maxRetries', 0, MAX_RETRIES_LIMIT);
  const s = o.snapshots;
  if (s !== undefined) {
    if (typeof s !== 'object' || s === null)
      bad(`snapshots must be { name, every, version }, got ${describeValue(s)}.`);
    for (const key of Object.keys(s)) {
      if (!SNAPSHOT_KEYS.has(key))
        bad(`unknown snapshots option ${JSON.stringify(key)}. Known: name, every, version.`);
    }
    const { name, every, version } = s as Record<string, unknown>;
    if (typeof name !== 'string' || !SNAPSHOT_NAME.test(name)) {
      bad(
        `snapshots.name must be 1–100 letters, digits, '_', '.', '-', starting with a letter or digit, got ${describeValue(name)}.`,
      );
    }
    wholeNumber(every, 'snapshots.every', 1, 1_000_000_000);
    wholeNumber(version, 'snapshots.version', 1, 2_147_483_647);
  }
  if (o.cache !== undefined) {
    if (!isStateCache(o.cache))
      bad(`cache must be a state cache made by createStateCache(), got ${describeValue(o.cache)}.`);
    o.cache.bind(o.evolve);
  }
  return retries;
}

/** The snapshot a command starts from (when one is kept and found) and the first page of events after it. */
export interface CommandRead<E> {
  snapshot: { state: unknown; version: number } | undefined;
  events: E[];
  /**
   * The version of the newest stored snapshot, when it differs from where the state starts (a state from the
   * process cache starts later): snapshots stay due every `snapshots.every` events. @defaultValue the start
   */
  snapshotVersion?: number;
}

/**
 * Where one attempt of a command reads and writes: a transaction the caller (or the retry loop) opened, or the
 * store itself, which reads outside a transaction and opens one only when the decision or a snapshot needs it.
 */
export interface CommandUnit<E, Tx> {
  /** What the decision gets as `context.tx`. */
  readonly tx: Tx;
  /** The newest snapshot of the fold (when `snapshots` is given) and the first `limit` events after it. */
  load(stream: string, snapshots: SnapshotOptions | undefined, limit: number): Promise<CommandRead<E>>;
  /** The next page of the stream, from position `from`. */
  readStream(stream: string, from: number, limit: number): Promise<E[]>;
  /**
   * Appends `events` expecting `expectedVersion`; resolves to the result and the events as stored. `withSnapshot`:
   * a snapshot follows, which must commit with the events (its state is checked for JSON only after the fold).
   */
  append(
    stream: string,
    events: readonly NewEvent[],
    expectedVersion: number,
    withSnapshot: boolean,
  ): Promise<{ result: AppendResult; stored: E[] }>;
  writeSnapshot(stream: string, snapshots: SnapshotOptions, version: number, state: unknown): Promise<void>;
}

/**
 * One attempt of a command: read (from a snapshot when one is kept), fold, decide, append with the version read,
 * fold the new events, and take a snapshot when one is due. Throws ExpectedVersionConflictError when another writer
 * appended first.
 */
export async function handleOnce<S, E extends { streamPosition: number }, Tx>(
  unit: CommandUnit<E, Tx>,
  stream: string,
  decide: Decide<S, Tx>,
  options: HandleOptions<S, E>,
  attempt: number,
): Promise<HandleResult<S, E>> {
  const { evolve, snapshots } = options;
  const limit = DEFAULT_READ_STREAM_LIMIT;
  const first = await unit.load(stream, snapshots, limit);
  const start = (first.snapshot as { state: S; version: number } | undefined) ?? {
    state: options.initialState(),
    version: 0,
  };
  let state = start.state;
  let version = start.version;
  for (let page = first.events; ; page = await unit.readStream(stream, version + 1, limit)) {
    for (const event of page) state = evolve(state, event);
    if (page.length > 0) version = page[page.length - 1]!.streamPosition;
    if (page.length < limit) break;
  }
  const events = await decide(state, { stream, version, tx: unit.tx, attempt });
  if (!Array.isArray(events)) {
    bad(`the decision must return an array of events (empty for none), got ${describeValue(events)}.`);
  }
  if (events.length === 0) return { state, version, events: [], result: undefined, attempts: attempt };
  const due =
    snapshots !== undefined &&
    version + events.length - (first.snapshotVersion ?? start.version) >= snapshots.every;
  const { result, stored } = await unit.append(stream, events, version, due);
  for (const event of stored) state = evolve(state, event);
  // A duplicate (these very events were stored before) leaves the stream where it was: no snapshot of it.
  if (due && !result.duplicate) await unit.writeSnapshot(stream, snapshots, result.streamVersion, state);
  return { state, version: result.streamVersion, events: stored, result, attempts: attempt };
}

/** An attempt's unit inside a transaction object: every read and write goes through `tx`. */
export function transactionUnit<E, Tx extends CommandTransaction<E>>(
  tx: Tx,
  schemaQ: string,
): CommandUnit<E, Tx> {
  return {
    tx,
    async load(stream, snapshots, limit) {
      const snapshot =
        snapshots === undefined ? undefined : await readSnapshot(tx, schemaQ, stream, snapshots);
      // A command folds the whole history: events moved to the archive are read through.
      const events = await tx.readStream(stream, {
        from: (snapshot?.version ?? 0) + 1,
        limit,
        archived: 'read',
      });
      return { snapshot, events };
    },
    readStream: (stream, from, limit) => tx.readStream(stream, { from, limit, archived: 'read' }),
    async append(stream, events, expectedVersion) {
      const result = await tx.append(stream, events, { expectedVersion });
      const stored = await tx.readStream(stream, { from: result.positions[0]!, limit: events.length });
      return { result, stored };
    },
    writeSnapshot: (stream, snapshots, version, state) =>
      writeSnapshot(tx, schemaQ, stream, snapshots, version, state),
  };
}

/**
 * One attempt's use of the state cache (`options.cache`): `wrap` makes the unit start from the cached state when the
 * stream has one (no read), `keep` stores the state after the attempt committed, `drop` forgets the stream after an
 * attempt that failed (a conflict means the cached state is stale). Without a cache all three do nothing.
 */
export function stateCacheAttempt<S>(cache: StateCache<S> | undefined, stream: string) {
  let snapshotVersion = 0;
  return {
    wrap<E, Tx>(unit: CommandUnit<E, Tx>): CommandUnit<E, Tx> {
      if (cache === undefined) return unit;
      return {
        ...unit,
        async load(name, snapshots, limit) {
          const hit = cache.get(name);
          if (hit !== undefined) {
            snapshotVersion = hit.snapshotVersion;
            return {
              snapshot: { state: hit.state, version: hit.version },
              events: [],
              snapshotVersion: hit.snapshotVersion,
            };
          }
          const read = await unit.load(name, snapshots, limit);
          snapshotVersion = read.snapshot?.version ?? 0;
          return read;
        },
        async writeSnapshot(name, snapshots, version, state) {
          await unit.writeSnapshot(name, snapshots, version, state);
          snapshotVersion = version;
        },
      };
    },
    keep(result: HandleResult<S, unknown>): void {
      // A duplicate append found these very events stored before: where the stream stands is not known here.
      if (result.result?.duplicate === true) cache?.delete(stream);
      else cache?.set(stream, { state: result.state, version: result.version, snapshotVersion });
    },
    drop(): void {
      cache?.delete(stream);
    },
  };
}

/** Full jitter: a random wait up to RETRY_BASE_MS × 2^retry, capped. */
function retryDelay(retry: number): number {
  return Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** retry);
}

/**
 * Runs `attemptOnce` per attempt, retrying after a concurrency conflict up to `maxRetries` times with jittered
 * waits. Any other error (the decision refusing, bad events) ends the command at once.
 */
export async function retryCommand<S, E, Tx>(
  stream: string,
  decide: Decide<S, Tx>,
  options: HandleOptions<S, E>,
  attemptOnce: (attempt: number) => Promise<HandleResult<S, E>>,
): Promise<HandleResult<S, E>> {
  const maxRetries = checkHandleOptions(decide, options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(attempt);
    } catch (error) {
      if (!isEventlaneError(error, 'EVENTLANE_CONCURRENCY')) throw error;
      if (attempt > maxRetries) throw new CommandConflictError(stream, attempt, error);
      await new Promise((resolve) => setTimeout(resolve, retryDelay(attempt)));
    }
  }
}

/** `handle` on any store: each attempt in a new transaction of its own (`transaction`). */
export function handleCommand<S, E extends { streamPosition: number }, Tx extends CommandTransaction<E>>(
  transaction: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>,
  schemaQ: string,
  stream: string,
  decide: Decide<S, Tx>,
  options: HandleOptions<S, E>,
): Promise<HandleResult<S, E>> {
  return retryCommand(stream, decide, options, async (attempt) => {
    const cached = stateCacheAttempt(options.cache, stream);
    try {
      const result = await transaction((tx) =>
        handleOnce(cached.wrap(transactionUnit<E, Tx>(tx, schemaQ)), stream, decide, options, attempt),
      );
      cached.keep(result);
      return result;
    } catch (error) {
      cached.drop();
      throw error;
    }
  });
}

/**
 * The `handle` method of a transaction object: one attempt inside it, no retries (the caller owns the transaction).
 * `tx` is read when called, so a wrapper that replaces `append` (inline projections) is the one appended through.
 */
export function transactionHandle<E extends { streamPosition: number }, Tx extends CommandTransaction<E>>(
  tx: () => Tx,
  schemaQ: string,
): <S>(stream: string, decide: Decide<S, Tx>, options: HandleOptions<S, E>) => Promise<HandleResult<S, E>> {
  return async (stream, decide, options) => {
    checkHandleOptions(decide, options);
    if (options.cache !== undefined) {
      bad(
        'cache is for store.handle, not for handle inside a transaction: the state would be kept before your ' +
          'transaction commits, and a rollback would leave it behind. Call store.handle, or leave cache out.',
      );
    }
    return handleOnce(transactionUnit<E, Tx>(tx(), schemaQ), stream, decide, options, 1);
  };
}
