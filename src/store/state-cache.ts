/**
 * A process-local cache of folded command states, so that `store.handle` on a stream it handled recently decides
 * from the state it left there instead of reading and folding the stream again: one statement per command (the
 * append) instead of two.
 *
 * Why it cannot decide on a wrong state: an entry holds the state folded up to a stream version, and the command
 * appends expecting exactly that version. PostgreSQL checks it atomically; if any writer (another process, another
 * cache) appended since, the append fails with a conflict, the entry is dropped, and the retry reads the stream.
 * Events are never changed in place, so a stream at the cached version holds exactly the events the state was
 * folded from. An entry is written only after the attempt's commit: a state that was never committed is never kept.
 *
 * What it asks of the caller: states are values. `evolve` returns a new state rather than changing the one it got,
 * and neither the decision nor the caller changes a state it was given (the cached one is the same object).
 */

import { describeValue, InvalidArgumentError } from '../errors.js';

/** Options of `createStateCache`. */
export interface StateCacheOptions {
  /**
   * How many streams' states to keep; the least recently used one is dropped first. @defaultValue 10000
   */
  maxStreams?: number;
}

/** One stream's state as the cache keeps it. */
export interface CachedState<S> {
  readonly state: S;
  /** The stream version `state` is folded up to. */
  readonly version: number;
  /** The version of the newest stored snapshot known for the stream (0: none), to keep `snapshots.every` exact. */
  readonly snapshotVersion: number;
}

const DEFAULT_MAX_STREAMS = 10_000;
const MAX_STREAMS_LIMIT = 10_000_000;
const brand = Symbol('eventlane.stateCache');

/** A cache of folded states for `store.handle({ cache })`; make one per decider (per `evolve`). */
export class StateCache<S> {
  readonly [brand] = true;
  readonly maxStreams: number;
  readonly #entries = new Map<string, CachedState<S>>();
  #evolve: unknown;
  #hits = 0;
  #misses = 0;

  constructor(options: StateCacheOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        `createStateCache: options must be { maxStreams }, got ${describeValue(options)}.`,
      );
    }
    for (const key of Object.keys(options)) {
      if (key !== 'maxStreams') {
        throw new InvalidArgumentError(
          `createStateCache: unknown option ${JSON.stringify(key)}. Known: maxStreams.`,
        );
      }
    }
    const max = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > MAX_STREAMS_LIMIT) {
      throw new InvalidArgumentError(
        `createStateCache: maxStreams must be a whole number from 1 to ${MAX_STREAMS_LIMIT}, got ${describeValue(max)}.`,
      );
    }
    this.maxStreams = max;
  }

  /** Streams held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Commands that started from a cached state, and commands that read their stream. */
  get stats(): { hits: number; misses: number; size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }

  /**
   * Binds the cache to the fold it serves. A state folded by one `evolve` means nothing to another, so a cache
   * used with a second one is refused rather than handing it a foreign state.
   */
  bind(evolve: unknown): void {
    if (this.#evolve === undefined) this.#evolve = evolve;
    else if (this.#evolve !== evolve) {
      throw new InvalidArgumentError(
        'handle: this state cache already serves another evolve function. A cached state is only meaningful to ' +
          'the fold that made it: create one cache per decider (createStateCache()) and pass the same evolve ' +
          'function each time (define it once, outside the call).',
      );
    }
  }

  /** The stream's cached state (marked as recently used), or undefined. */
  get(stream: string): CachedState<S> | undefined {
    const entry = this.#entries.get(stream);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#entries.delete(stream);
    this.#entries.set(stream, entry);
    return entry;
  }

  /** Keeps a committed state; drops the least recently used streams beyond `maxStreams`. */
  set(stream: string, entry: CachedState<S>): void {
    this.#entries.delete(stream);
    this.#entries.set(stream, entry);
    while (this.#entries.size > this.maxStreams) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets one stream (after a failed attempt), or every stream. */
  delete(stream?: string): void {
    if (stream === undefined) this.#entries.clear();
    else this.#entries.delete(stream);
  }
}

/**
 * A cache of folded states for `store.handle`: commands on a stream this process handled recently skip reading
 * and folding it (see the top of src/store/state-cache.ts for why that is safe, and what it asks of states).
 */
export function createStateCache<S>(options?: StateCacheOptions): StateCache<S> {
  return new StateCache<S>(options);
}

/** A store with personal fields keeps no states in memory: `forget(subject)` could not reach them. */
export function personalFieldsCacheError(): InvalidArgumentError {
  return new InvalidArgumentError(
    'handle: cache is not available on a store with personal fields. A cached state would keep personal data in ' +
      'memory after forget(subject) erased it from every read; leave cache out for this store.',
  );
}

export function isStateCache(value: unknown): value is StateCache<unknown> {
  return typeof value === 'object' && value !== null && brand in value;
}
