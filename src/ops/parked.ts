// Parked events as operators handle them: consumers and projection versions (`parked_events`) and relays
// (`relay_parked`). Every action is audited; event data can be redacted for display.

import { parkedEvents, type ParkedEvent } from '../consumers/admin.js';
import { isEventlaneError, WorkerStateError } from '../errors.js';
import type { JsonValue } from '../events/envelope.js';
import { relayParking, type RelayParkedEvent } from '../relay/parking-admin.js';
import { redactText } from '../redact.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { audited } from './audit.js';
import { listProjections } from './inventory.js';

/** How parked events are shown. */
export interface DisplayOptions {
  /**
   * Hide the data and metadata of parked events (shown as `"[redacted]"`): for stores that hold personal or
   * secret data. Error messages are always passed through `redactText` (URLs with passwords, `token=…`).
   * @defaultValue false
   */
  redactEventData?: boolean;
}

export interface ParkedEventView extends ParkedEvent {
  /** The event's data and metadata, or `"[redacted]"`; present in `showParked` only. */
  data?: JsonValue;
  metadata?: JsonValue;
}

const REDACTED = '[redacted]';

function clean<T extends { error: string | null }>(row: T): T {
  const out = { ...row, error: row.error === null ? null : redactText(row.error) };
  if ('stack' in out && typeof out.stack === 'string')
    (out as { stack: string }).stack = redactText(out.stack);
  return out;
}

async function eventContent(
  store: EventStore,
  eventId: string,
  options: DisplayOptions,
): Promise<{ data: JsonValue; metadata: JsonValue }> {
  if (options.redactEventData) return { data: REDACTED, metadata: REDACTED };
  const [row] = await store.executor.query<{ data: JsonValue; metadata: JsonValue }>(
    `select data, metadata from ${quoteIdent(store.schema)}.events where id = $1`,
    [eventId],
  );
  return { data: row?.data ?? null, metadata: row?.metadata ?? null };
}

export async function listParked(
  store: EventStore,
  options: { consumer?: string; status?: ParkedEvent['status'][]; limit?: number } = {},
): Promise<ParkedEvent[]> {
  return (await parkedEvents(store).list(options)).map(clean);
}

/** One parked event (any status) with its event's data and metadata (redacted when configured). */
export async function showParked(
  store: EventStore,
  id: string,
  options: DisplayOptions = {},
): Promise<ParkedEventView> {
  const row = await parkedEvents(store).get(id);
  return { ...clean(row), ...(await eventContent(store, row.eventId, options)) };
}

export function retryParked(store: EventStore, id: string, actor: string): Promise<ParkedEvent> {
  return audited(store, { actor, action: 'parked.retry', target: `parked:${id}` }, async () =>
    clean(await parkedEvents(store).retry(id)),
  );
}

export function skipParked(
  store: EventStore,
  id: string,
  actor: string,
  reason?: string,
): Promise<ParkedEvent> {
  return audited(
    store,
    { actor, action: 'parked.skip', target: `parked:${id}`, details: reason === undefined ? {} : { reason } },
    async () => clean(await parkedEvents(store).skip(id, { by: actor, reason })),
  );
}

export interface BulkResult<T> {
  done: T[];
  failed: { id: string; code: string; message: string }[];
}

/** Runs `act` for each id; a refusal (an eventlane error) is reported for that id and the others go on. */
async function eachId<T>(ids: readonly string[], act: (id: string) => Promise<T>): Promise<BulkResult<T>> {
  const out: BulkResult<T> = { done: [], failed: [] };
  for (const id of ids) {
    try {
      out.done.push(await act(id));
    } catch (error) {
      if (!isEventlaneError(error)) throw error;
      out.failed.push({ id, code: error.code, message: redactText(error.message) });
    }
  }
  return out;
}

/**
 * Retries or skips many parked events: the given ids, or every parked one of `consumer`. Each is its own audited
 * action; one that fails (retried meanwhile by someone else) is reported and the others go on.
 */
export async function bulkParked(
  store: EventStore,
  action: 'retry' | 'skip',
  target: { consumer?: string; ids?: string[] },
  actor: string,
  reason?: string,
): Promise<BulkResult<ParkedEvent>> {
  const ids =
    target.ids ??
    (await parkedEvents(store).list({ consumer: target.consumer, status: ['parked'], limit: 10_000 })).map(
      (r) => r.id,
    );
  return eachId(ids, (id) =>
    action === 'retry' ? retryParked(store, id, actor) : skipParked(store, id, actor, reason),
  );
}

/** Retries or skips several relay-parked events, each its own audited action. */
export function bulkRelayParked(
  store: EventStore,
  action: 'retry' | 'skip',
  ids: readonly string[],
  actor: string,
  reason?: string,
): Promise<BulkResult<RelayParkedEvent>> {
  return eachId(ids, (id) =>
    action === 'retry' ? retryRelayParked(store, id, actor) : skipRelayParked(store, id, actor, reason),
  );
}

/** The parked row a projection's building or live version is stopped at. */
async function projectionFailure(store: EventStore, name: string): Promise<{ id: string; status: string }> {
  const versions = await listProjections(store, name);
  const failing = versions.find((v) => v.failure !== null);
  if (failing?.failure == null) {
    throw new WorkerStateError(
      `Projection ${JSON.stringify(name)} is not stopped at a failing event; nothing to retry or skip.`,
    );
  }
  return failing.failure;
}

/** The retry of `Projections.retry(name)`, from any process: the parked event gets fresh attempts now. */
export async function retryProjection(store: EventStore, name: string, actor: string): Promise<ParkedEvent> {
  const failure = await projectionFailure(store, name);
  if (failure.status !== 'parked') {
    throw new WorkerStateError(
      `Projection ${JSON.stringify(name)} is still retrying its failing event with backoff (parked id ${failure.id}); ` +
        'retry it once it is parked, or skip it now.',
    );
  }
  return audited(
    store,
    { actor, action: 'projection.retry', target: `projection:${name}`, details: { parked: failure.id } },
    async () => clean(await parkedEvents(store).retry(failure.id)),
  );
}

/** The skip of `Projections.skip(name)`, from any process: the version moves past the failing event. */
export async function skipProjection(
  store: EventStore,
  name: string,
  actor: string,
  reason?: string,
): Promise<ParkedEvent> {
  const failure = await projectionFailure(store, name);
  return audited(
    store,
    {
      actor,
      action: 'projection.skip',
      target: `projection:${name}`,
      details: { parked: failure.id, reason },
    },
    async () => clean(await parkedEvents(store).skip(failure.id, { by: actor, reason })),
  );
}

export async function listRelayParked(
  store: EventStore,
  options: { relay?: string; status?: RelayParkedEvent['status'][]; limit?: number } = {},
): Promise<RelayParkedEvent[]> {
  return (await relayParking(store).list(options)).map(clean);
}

export function retryRelayParked(store: EventStore, id: string, actor: string): Promise<RelayParkedEvent> {
  return audited(store, { actor, action: 'relay-parked.retry', target: `relay-parked:${id}` }, async () =>
    clean(await relayParking(store).retry(id)),
  );
}

export function skipRelayParked(
  store: EventStore,
  id: string,
  actor: string,
  reason?: string,
): Promise<RelayParkedEvent> {
  return audited(
    store,
    {
      actor,
      action: 'relay-parked.skip',
      target: `relay-parked:${id}`,
      details: reason === undefined ? {} : { reason },
    },
    async () => clean(await relayParking(store).skip(id, { by: actor, reason })),
  );
}
