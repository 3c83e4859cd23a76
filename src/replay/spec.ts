import type { ConsumerDefinition } from '../consumers/define.js';
import {
  describeValue,
  InvalidArgumentError,
  ReplayModeError,
  ReplayRangeError,
  UnknownConsumerError,
} from '../errors.js';
import { isEventType } from '../events/names.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { compareCheckpoints, formatCheckpoint, LOG_START, parseCheckpoint } from '../store/names.js';
import type { RangeBound, ReplayJob, ReplayKind, ReplayOptions } from './types.js';

/** A replay's options, checked and with its range resolved to checkpoints. */
export type ReplaySpec = Pick<
  ReplayJob,
  | 'kind'
  | 'from'
  | 'to'
  | 'types'
  | 'streamPrefix'
  | 'reprocess'
  | 'maxEventsPerSecond'
  | 'concurrency'
  | 'adaptive'
> & { consumer: ConsumerDefinition };

/** What a job covers: the values its preview token hashes, in the order of the jobs table's columns. */
export function jobIdentity(spec: ReplaySpec): unknown[] {
  return [spec.kind, spec.consumer.name, spec.from, spec.to, spec.types, spec.streamPrefix, spec.reprocess];
}

const KINDS: readonly ReplayKind[] = ['rebuild', 'backfill', 'dry-run', 'reactor-replay'];

/** Checks everything that needs no database. Throws typed errors; nothing is written before this passes. */
export function checkOptions(
  input: unknown,
  consumers: ReadonlyMap<string, ConsumerDefinition>,
): Omit<ReplaySpec, 'from' | 'to'> & {
  fromBound: RangeBound | undefined;
  toBound: RangeBound | undefined;
  follow: boolean;
} {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(
      `replay options must be an object { kind, consumer, … }, got ${describeValue(input)}.`,
    );
  }
  const o = input as Partial<Record<keyof ReplayOptions, unknown>>;
  if (!KINDS.includes(o.kind as ReplayKind)) {
    throw new InvalidArgumentError(`kind must be one of ${KINDS.join(', ')}, got ${describeValue(o.kind)}.`, {
      kind: describeValue(o.kind),
    });
  }
  const kind = o.kind as ReplayKind;
  const consumer = typeof o.consumer === 'string' ? consumers.get(o.consumer) : undefined;
  if (consumer === undefined) throw new UnknownConsumerError(o.consumer, [...consumers.keys()]);
  const versioned = consumer.kind === 'projection' && Object.keys(consumer.tables).length > 0;
  const name = JSON.stringify(consumer.name);
  if ((kind === 'rebuild' || kind === 'backfill') && consumer.kind === 'reactor') {
    throw new ReplayModeError(
      `${name} is a reactor, and a ${kind} never runs reactors (their effects reach outside the database). ` +
        "Use kind 'dry-run' to see what it would do, or 'reactor-replay' with allowEffects: true.",
      { kind, consumer: consumer.name },
    );
  }
  if ((kind === 'dry-run' || kind === 'reactor-replay') && consumer.kind !== 'reactor') {
    throw new ReplayModeError(
      `${name} is a projection; a ${kind} is for reactors. Use kind 'backfill' (or 'rebuild' for a versioned projection).`,
      { kind, consumer: consumer.name },
    );
  }
  if (kind === 'rebuild' && !versioned) {
    throw new ReplayModeError(
      `${name} declares no tables, so it has no versions to rebuild. Use kind 'backfill' (with reprocess to re-apply).`,
      { kind, consumer: consumer.name },
    );
  }
  if (kind === 'reactor-replay' && o.allowEffects !== true) {
    throw new ReplayModeError(
      `A live replay of reactor ${name} performs effects: pass allowEffects: true to confirm (effects the journal ` +
        "holds as done are still skipped), or use kind 'dry-run' to see them first.",
      { kind, consumer: consumer.name },
    );
  }
  const reprocess = flag(o.reprocess, 'reprocess');
  if (reprocess && kind !== 'backfill') {
    throw new ReplayModeError(`reprocess applies to backfills of projections only, not to a ${kind}.`, {
      kind,
    });
  }
  if (
    kind === 'rebuild' &&
    (o.from !== undefined || o.to !== undefined || o.types !== undefined || o.streamPrefix !== undefined)
  ) {
    throw new ReplayModeError(
      `A rebuild covers the whole log from the building version's checkpoint: it takes no from, to, types or streamPrefix.`,
      { kind },
    );
  }
  const maxEventsPerSecond = checkRate(o.maxEventsPerSecond);
  const concurrency = o.concurrency ?? 1;
  if (
    typeof concurrency !== 'number' ||
    !Number.isSafeInteger(concurrency) ||
    concurrency < 1 ||
    concurrency > 64
  ) {
    throw new InvalidArgumentError(
      `concurrency must be a whole number from 1 to 64, got ${describeValue(concurrency)}.`,
      {
        concurrency: describeValue(concurrency),
      },
    );
  }
  const parallelSafe = kind === 'reactor-replay' || (kind === 'backfill' && !versioned && !reprocess);
  if (concurrency > 1 && !parallelSafe) {
    throw new InvalidArgumentError(
      `concurrency ${concurrency} is for backfills of handler-only projections (without reprocess) and live reactor ` +
        `replays only; a ${kind}${reprocess ? ' with reprocess' : ''} of ${name} applies pages one at a time.`,
      { concurrency, kind },
    );
  }
  return {
    kind,
    consumer,
    fromBound: checkBound(o.from, 'from'),
    toBound: checkBound(o.to, 'to'),
    follow: flag(o.follow, 'follow'),
    types: checkTypes(o.types),
    streamPrefix: checkPrefix(o.streamPrefix),
    reprocess,
    maxEventsPerSecond,
    concurrency,
    adaptive: flag(o.adaptive, 'adaptive'),
  };
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`${name} must be true or false, got ${describeValue(value)}.`, {
      [name]: describeValue(value),
    });
  }
  return value;
}

/** A rate limit: a finite number > 0, or undefined/null for none. */
export function checkRate(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) {
    throw new InvalidArgumentError(
      `maxEventsPerSecond must be a finite number > 0 (leave it out for no limit), got ${describeValue(value)}.`,
      { maxEventsPerSecond: describeValue(value) },
    );
  }
  return value;
}

function checkBound(value: unknown, name: 'from' | 'to'): RangeBound | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime()))
      throw new ReplayRangeError(`${name} is an invalid Date.`, { [name]: 'Invalid Date' });
    return value;
  }
  if (typeof value === 'string') {
    try {
      parseCheckpoint(value);
    } catch {
      throw new ReplayRangeError(
        `${name} ${describeValue(value)} is not a log checkpoint ("<txOrder>:<globalPosition>", as an event's ` +
          'checkpoint or store.head() gives it); pass a Date for a time.',
        { [name]: describeValue(value) },
      );
    }
    return value;
  }
  throw new ReplayRangeError(`${name} must be a checkpoint string or a Date, got ${describeValue(value)}.`, {
    [name]: describeValue(value),
  });
}

function checkTypes(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0 || value.length > 100) {
    throw new InvalidArgumentError(
      `types must be an array of 1 to 100 event types, got ${describeValue(value)}.`,
    );
  }
  for (const t of value) {
    if (!isEventType(t)) {
      throw new InvalidArgumentError(
        `types holds ${describeValue(t)}, which is not an event type (e.g. "order.paid").`,
        {
          type: describeValue(t),
        },
      );
    }
  }
  return [...new Set(value as string[])].sort();
}

function checkPrefix(value: unknown): string | null {
  if (value === undefined) return null;
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > 200 ||
    [...value].some((c) => c.charCodeAt(0) < 0x20)
  ) {
    throw new InvalidArgumentError(
      `streamPrefix must be 1–200 characters without control characters, got ${describeValue(value)}.`,
    );
  }
  return value;
}

/**
 * Resolves the bounds: a time `from` becomes the checkpoint just before the first event recorded at or after it,
 * a time `to` the checkpoint of the last event recorded at or before it; no `to` is the readable head (`head`).
 */
export async function resolveRange(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  bounds: { fromBound: RangeBound | undefined; toBound: RangeBound | undefined; follow: boolean },
  head: string,
): Promise<{ from: string; to: string | null }> {
  const { fromBound, toBound, follow } = bounds;
  if (follow && toBound !== undefined) {
    throw new ReplayRangeError(
      'follow: true replays without an end: leave `to` out, or drop follow for a fixed end.',
    );
  }
  if (fromBound instanceof Date && toBound instanceof Date && toBound < fromBound) {
    throw rangeBackwards(fromBound.toISOString(), toBound.toISOString());
  }
  let from = LOG_START;
  if (typeof fromBound === 'string') from = fromBound;
  else if (fromBound instanceof Date) {
    // Walks the commit-order index from the start to the first match: once per job, not per page.
    const [row] = await ex.query<{ tx: string; gp: string }>(
      `select tx_order::text as tx, global_position::text as gp from ${q}.events
        where recorded_at >= $1 order by tx_order, global_position limit 1`,
      [fromBound],
    );
    from = row ? formatCheckpoint(row.tx, BigInt(row.gp) - 1n) : head;
  }
  let to: string | null = follow ? null : head;
  if (typeof toBound === 'string') to = toBound;
  else if (toBound instanceof Date) {
    const [row] = await ex.query<{ tx: string; gp: string }>(
      `select tx_order::text as tx, global_position::text as gp from ${q}.events
        where recorded_at <= $1 order by tx_order desc, global_position desc limit 1`,
      [toBound],
    );
    to = row ? formatCheckpoint(row.tx, row.gp) : LOG_START;
  }
  if (to !== null && compareCheckpoints(to, from) < 0) {
    // A time that falls between two events resolves to an empty range, not an error.
    if (fromBound instanceof Date || toBound instanceof Date) return { from, to: from };
    throw rangeBackwards(from, to);
  }
  return { from, to };
}

function rangeBackwards(from: string, to: string): ReplayRangeError {
  return new ReplayRangeError(
    `The range ends (${to}) before it starts (${from}). Give a 'to' at or after 'from' (commit order).`,
    { from, to },
  );
}
