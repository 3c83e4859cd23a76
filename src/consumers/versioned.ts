// What the worker needs from the engine behind its versioned projections (defineProjection with `tables` or a
// `batch` handler). The engine is the projection runner of src/projections; it is handed in from above
// (src/projections/worker.ts) so that this folder never imports the projections folder, which imports it.

import type { Registry } from 'prom-client';
import type { EventStore } from '../store/event-store.js';
import { UnknownConsumerError, WorkerStateError } from '../errors.js';
import type { ConsumerCounters, ConsumerHealth } from './worker-types.js';

export interface VersionedRunner {
  /** The names of the versioned projections it runs. */
  readonly names: readonly string[];
  /** The store to append through so that inline projections run in each append's transaction. */
  readonly store: EventStore;
  /** Registers the versions (creating their tables) and starts their run loops. */
  start(): Promise<void>;
  /** Stops after the page in progress; its work commits or rolls back whole. */
  stop(): Promise<void>;
  /** Health of every versioned projection, or of the one named (which must be one of `names`). */
  health(name?: string): Promise<ConsumerHealth[]>;
  /** This process's counters per versioned projection. */
  stats(): ConsumerCounters[];
  /** Registers the projections' gauges (lag, stalled, parked) in the worker's registry. */
  registerMetrics(registry: Registry): void;
}

/**
 * Waits for `work` at most `ms`; false when it did not finish in time (it goes on in the background, its failure
 * reported to `onError`).
 */
export async function within(
  work: Promise<void>,
  ms: number,
  onError: (error: Error) => void,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const outcome = await Promise.race([
    work.then(
      () => 'done' as const,
      (e: unknown) => (onError(e as Error), 'done' as const),
    ),
    gaveUp,
  ]);
  clearTimeout(timer);
  return outcome === 'done';
}

/**
 * `worker.health()`: the consumers run through lanes (`own`, read by the worker) and the versioned projections, in
 * the order given to createWorker within each kind; `consumer` names one of either.
 */
export async function healthOf(
  own: (consumer?: string) => Promise<ConsumerHealth[]>,
  consumers: readonly { name: string }[],
  versioned: VersionedRunner | null,
  consumer?: string,
): Promise<ConsumerHealth[]> {
  const lanes = consumers.map((c) => c.name);
  const projections = versioned?.names ?? [];
  if (consumer === undefined) {
    return [...(lanes.length > 0 ? await own() : []), ...(versioned ? await versioned.health() : [])];
  }
  if (lanes.includes(consumer)) return own(consumer);
  if (versioned && projections.includes(consumer)) return versioned.health(consumer);
  throw new UnknownConsumerError(consumer, [...lanes, ...projections]);
}

/** Starts the versioned projections, then the rest (`startLanes`); stops the former when the latter fails. */
export async function startWith(
  versioned: VersionedRunner | null,
  startLanes: () => Promise<void>,
  onError: (error: Error) => void,
): Promise<void> {
  await versioned?.start();
  try {
    await startLanes();
  } catch (error) {
    await versioned?.stop().catch((e: unknown) => onError(e as Error));
    throw error;
  }
}

/** Stops the versioned projections, waiting at most `ms` (the worker's stopTimeoutMs) for their page in progress. */
export async function stopWithin(
  versioned: VersionedRunner | null,
  ms: number,
  onError: (error: Error) => void,
  workerId: string,
): Promise<void> {
  if (versioned === null || (await within(versioned.stop(), ms, onError))) return;
  onError(
    new WorkerStateError(
      `Worker ${workerId}: versioned projections [${versioned.names.join(', ')}] did not finish their page in ` +
        `progress within stopTimeoutMs (${ms} ms). It commits or rolls back whole when it ends; a version another ` +
        'process moves meanwhile is fenced by its checkpoint. Raise stopTimeoutMs if pages need longer.',
    ),
  );
}
