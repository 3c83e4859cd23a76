import {
  AppendTooLargeError,
  DuplicateEventIdError,
  EventTooLargeError,
  ExpectedVersionConflictError,
  InvalidArgumentError,
  InvalidEventError,
  StreamClosedError,
  type ExpectedVersion,
} from '../errors.js';
import type { NewEvent } from '../events/envelope.js';
import { isUuid, uuidv7 } from '../events/ids.js';
import { toJsonText } from '../events/json.js';
import { checkEventType, checkStreamName } from '../events/names.js';
import { traceAppend } from '../tracing/spans.js';
import { checkMetadataTraceContext, type EventTraceContext } from '../tracing/trace-context.js';
import type { SqlExecutor } from './drivers/driver.js';
import { formatCheckpoint } from './names.js';

export interface AppendOptions {
  /**
   * What the stream must look like for the append to go through, checked inside PostgreSQL:
   * `'any'` (no check), `'no_stream'` (the stream has no events), `'stream_exists'`, or the stream's current
   * version (its last position; 0 means no events).
   * @defaultValue 'any'
   */
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  stream: string;
  /** The stream's version after the append: the position of its last event. */
  streamVersion: number;
  /** The stream positions the events were given, in order. */
  positions: number[];
  /** The ids of the appended events, in order (generated ones included). */
  ids: string[];
  /** The global position of the last appended event. */
  globalPosition: bigint;
  /** The log checkpoint just after the last appended event (commit order). */
  checkpoint: string;
  /** True when these very events were already stored: a retried append that wrote nothing. */
  duplicate: boolean;
}

export interface AppendLimits {
  maxEventBytes: number;
  maxAppendBytes: number;
}

export interface PreparedBatch {
  ids: string[];
  json: string;
  /** Each event's data, metadata and occurred_at as sent: what the store holds once the append commits. */
  data: string[];
  metadata: string[];
  occurredAt: string[];
}

/** Most events one append call takes; with `maxAppendBytes` it bounds the memory and the statement of one call. */
export const MAX_EVENTS_PER_APPEND = 100_000;
/** The range of dates PostgreSQL reads back from `Date.toISOString()` (years 1–9999; beyond, ISO adds a sign). */
const MIN_DATE_MS = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_DATE_MS = Date.parse('9999-12-31T23:59:59.999Z');

function checkExpected(expected: unknown): { mode: string; version: number } {
  if (expected === undefined || expected === 'any') return { mode: 'any', version: 0 };
  if (expected === 'no_stream' || expected === 'stream_exists') return { mode: expected, version: 0 };
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) {
    return { mode: 'exact', version: expected };
  }
  throw new InvalidArgumentError(
    `expectedVersion ${describe(expected)} is not valid: use 'any', 'no_stream', 'stream_exists', ` +
      'or the stream version you read (a whole number ≥ 0).',
    { expectedVersion: typeof expected === 'bigint' ? String(expected) : expected },
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}

/**
 * The metadata JSON text with the trace context added in front (the caller gave neither a traceparent nor a
 * tracestate: `checkMetadataTraceContext` refuses a tracestate alone).
 */
function withTraceContext(metadata: string, trace: EventTraceContext): string {
  const fields =
    `"traceparent":${JSON.stringify(trace.traceparent)}` +
    (trace.tracestate === undefined ? '' : `,"tracestate":${JSON.stringify(trace.tracestate)}`);
  return metadata === '{}' ? `{${fields}}` : `{${fields},${metadata.slice(1)}`;
}

/**
 * Checks every event and serializes the batch; throws before anything reaches the database. `trace` is the trace
 * context of the appending code: events whose metadata has no traceparent of its own get it.
 */
export function prepareBatch(
  events: readonly NewEvent[],
  limits: AppendLimits,
  trace?: EventTraceContext,
): PreparedBatch {
  if (!Array.isArray(events)) {
    throw new InvalidArgumentError(`append takes an array of events, got ${typeof events}.`);
  }
  if (events.length === 0) {
    throw new InvalidArgumentError(
      'append was given no events. Pass at least one event, or skip the call when there is nothing to record.',
    );
  }
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new AppendTooLargeError(
      `append was given ${events.length} events; one call takes at most ${MAX_EVENTS_PER_APPEND}. Nothing was ` +
        'appended: split the batch (several appends in one store.transaction stay atomic).',
      { events: events.length },
    );
  }
  let total = 0;
  const ids: string[] = [];
  const seen = new Set<string>();
  const parts: string[] = [];
  const dataTexts: string[] = [];
  const metadataTexts: string[] = [];
  const occurredTexts: string[] = [];
  const now = new Date().toISOString();
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as NewEvent | undefined;
    const at = `events[${i}]`;
    if (typeof event !== 'object' || event === null) {
      throw new InvalidEventError(
        `${at} is ${event === null ? 'null' : typeof event}, not an event object.`,
        at,
      );
    }
    checkEventType(event.type, `${at}.type`);
    const id = event.id ?? uuidv7();
    if (!isUuid(id)) {
      throw new InvalidEventError(
        `${at}.id ${describe(id)} is not a UUID. Leave it out to get a UUIDv7.`,
        `${at}.id`,
      );
    }
    const lower = id.toLowerCase();
    if (seen.has(lower)) {
      throw new DuplicateEventIdError(
        `${at}.id ${id} appears twice in the same append; every event needs its own id.`,
        {
          id,
          index: i,
        },
      );
    }
    seen.add(lower);
    const version = event.version ?? 1;
    if (!Number.isSafeInteger(version) || version < 1 || version > 2_147_483_647) {
      throw new InvalidEventError(
        `${at}.version ${describe(version)} must be a whole number ≥ 1.`,
        `${at}.version`,
      );
    }
    if (event.data === undefined) {
      throw new InvalidEventError(
        `${at}.data is missing; an event needs data (use {} when there is none).`,
        `${at}.data`,
      );
    }
    const data = toJsonText(event.data, `${at}.data`);
    const meta: unknown = event.metadata;
    if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
      throw new InvalidEventError(`${at}.metadata must be a plain object.`, `${at}.metadata`);
    }
    let metadata = meta === undefined ? '{}' : toJsonText(meta, `${at}.metadata`);
    const ownTrace =
      meta !== undefined && checkMetadataTraceContext(meta as Record<string, unknown>, `${at}.metadata`);
    if (trace !== undefined && !ownTrace) metadata = withTraceContext(metadata, trace);
    let occurredAt = now;
    if (event.occurredAt !== undefined) {
      if (!(event.occurredAt instanceof Date) || Number.isNaN(event.occurredAt.getTime())) {
        throw new InvalidEventError(`${at}.occurredAt must be a valid Date.`, `${at}.occurredAt`);
      }
      const ms = event.occurredAt.getTime();
      if (ms < MIN_DATE_MS || ms > MAX_DATE_MS) {
        throw new InvalidEventError(
          `${at}.occurredAt ${event.occurredAt.toISOString()} is outside the years 1 to 9999, which the store ` +
            'cannot hold. Check the clock or the conversion that produced it.',
          `${at}.occurredAt`,
        );
      }
      occurredAt = event.occurredAt.toISOString();
    }
    const size = Buffer.byteLength(data) + Buffer.byteLength(metadata);
    if (size > limits.maxEventBytes) throw new EventTooLargeError(i, event.type, size, limits.maxEventBytes);
    total += size;
    if (total > limits.maxAppendBytes) {
      throw new AppendTooLargeError(
        `The first ${i + 1} of ${events.length} events of this append hold ${total} bytes of JSON, over the ` +
          `store's limit of ${limits.maxAppendBytes} bytes per append. Nothing was appended: split the batch ` +
          '(several appends in one store.transaction stay atomic), or raise `maxAppendBytes`.',
        { events: events.length, sizeBytes: total, limitBytes: limits.maxAppendBytes },
      );
    }
    ids.push(id);
    dataTexts.push(data);
    metadataTexts.push(metadata);
    occurredTexts.push(occurredAt);
    parts.push(
      `{"id":"${id}","type":${JSON.stringify(event.type)},"version":${version},"data":${data},"metadata":${metadata},"occurred_at":"${occurredAt}"}`,
    );
  }
  return {
    ids,
    json: `[${parts.join(',')}]`,
    data: dataTexts,
    metadata: metadataTexts,
    occurredAt: occurredTexts,
  };
}

/** The subjects whose keys sealed an append's personal fields, and those keys' ids (checked by the database). */
export interface SealedKeys {
  subjects: string[];
  keyIds: string[];
}

/** A subject key this append was sealed with was deleted (forgotten) since it was read: seal again. */
export class SubjectKeyChanged extends Error {
  constructor(readonly subjects: string[]) {
    super('a subject key changed during the append');
  }
}

interface AppendRow {
  status: 'ok' | 'conflict' | 'duplicate' | 'id_conflict' | 'closed' | 'key_changed';
  stream_version: string | number | bigint;
  first_position: string | number | bigint | null;
  last_global_position: string | number | bigint | null;
  tx_order: string | null;
  recorded_ms: number;
}

/** An append's result with what it sent and when it was recorded: enough to build the stored events locally. */
export interface AppendOutcome {
  result: AppendResult;
  batch: PreparedBatch;
  /** The appending transaction's tx_order (text), shared by every event of the append. */
  txOrder: string;
  /** The events' recorded_at (the transaction's start, `now()`), in epoch milliseconds; not theirs when duplicate. */
  recordedMs: number;
}

/**
 * Appends `events` to `stream` through `executor` in one statement. When the executor is inside a
 * transaction, the append commits or rolls back with it.
 */
export function appendToStream(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions | undefined,
  limits: AppendLimits,
  keys?: SealedKeys,
): Promise<AppendResult> {
  return appendWithOutcome(executor, schemaQ, stream, events, options, limits, keys).then((o) => o.result);
}

/** `appendToStream`, answering with what was sent and when it was recorded as well (command handling). */
export async function appendWithOutcome(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions | undefined,
  limits: AppendLimits,
  keys?: SealedKeys,
): Promise<AppendOutcome> {
  checkStreamName(stream);
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`append options must be an object, got ${typeof options}.`);
  }
  const expected = options?.expectedVersion ?? 'any';
  const { mode, version } = checkExpected(expected);
  return traceAppend(stream, Array.isArray(events) ? events.length : 0, (trace) =>
    insertBatch(
      executor,
      schemaQ,
      stream,
      prepareBatch(events, limits, trace),
      expected,
      mode,
      version,
      keys,
    ),
  );
}

/** The append statement runs often with one text per schema: parsed and planned once per connection. */
const PREPARED = { prepare: true } as const;

async function insertBatch(
  executor: SqlExecutor,
  schemaQ: string,
  stream: string,
  batch: PreparedBatch,
  expected: ExpectedVersion,
  mode: string,
  version: number,
  keys: SealedKeys | undefined,
): Promise<AppendOutcome> {
  // Ids the caller supplied may already be stored (a retried command); generated ones cannot be. Probing up
  // front is only needed where a retry would not already fail its version check.
  const probe = mode === 'any' || mode === 'stream_exists';
  let row: AppendRow | undefined;
  try {
    const columns = `status, stream_version, first_position, last_global_position, tx_order::text as tx_order,
              (extract(epoch from now()) * 1000)::float8 as recorded_ms`;
    [row] =
      keys === undefined
        ? await executor.query<AppendRow>(
            `select ${columns} from ${schemaQ}.append_events($1, $2, $3, $4::jsonb, $5, $6)`,
            [stream, mode, version, batch.json, batch.ids.length, probe],
            PREPARED,
          )
        : await executor.query<AppendRow>(
            `select ${columns}
               from ${schemaQ}.append_personal_events($1, $2, $3, $4::jsonb, $5, $6, $7::text[], $8::uuid[])`,
            [stream, mode, version, batch.json, batch.ids.length, probe, keys.subjects, keys.keyIds],
            PREPARED,
          );
  } catch (error) {
    const e = error as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'events_id_key') {
      throw new DuplicateEventIdError(
        `An event id of this append is already stored in the log (${stream}). Event ids must be unique; ` +
          'when retrying an append, send the same batch with the same expected version.',
        { stream, ids: batch.ids },
        error,
      );
    }
    throw error;
  }
  if (!row) throw new Error('append_events returned no row');
  switch (row.status) {
    case 'closed': {
      const [closed] = await executor.query<{ closed_at: Date }>(
        `select closed_at from ${schemaQ}.streams where stream = $1`,
        [stream],
      );
      throw new StreamClosedError(stream, closed?.closed_at ?? new Date(NaN), Number(row.stream_version));
    }
    case 'key_changed':
      throw new SubjectKeyChanged(keys?.subjects ?? []);
    case 'conflict':
      throw new ExpectedVersionConflictError(stream, expected, Number(row.stream_version));
    case 'id_conflict':
      throw new DuplicateEventIdError(
        `The first event id of this append (${batch.ids[0]}) is already stored, but not as this same batch at ` +
          `the same positions of ${JSON.stringify(stream)}. Give new events new ids; reuse ids only to retry the ` +
          'very same append.',
        { stream, ids: batch.ids },
      );
    default: {
      const first = Number(row.first_position);
      const result: AppendResult = {
        stream,
        streamVersion: Number(row.stream_version),
        positions: batch.ids.map((_, i) => first + i),
        ids: batch.ids,
        globalPosition: BigInt(row.last_global_position!),
        checkpoint: formatCheckpoint(row.tx_order!, BigInt(row.last_global_position!)),
        duplicate: row.status === 'duplicate',
      };
      return { result, batch, txOrder: row.tx_order!, recordedMs: row.recorded_ms };
    }
  }
}
