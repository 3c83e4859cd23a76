// A versioned projection applies the log in commit order, one page per transaction, across all streams. When an
// event fails, the version stops exactly before it (the events before it in the page commit) and the event is
// retried with backoff, then parked, in the consumers' `parked_events` table under the consumer key
// `<name>@v<version>` (a key no consumer name can take: names never hold '@'). An operator retries or skips it.

import { backoffDelay, type RetryOptions } from '../consumers/backoff.js';
import { parkedEvents, type ParkedEvent } from '../consumers/admin.js';
import type { ProjectionDefinition } from '../consumers/define.js';
import { recordFailure, resolveFailures, type Queryable } from '../consumers/sql.js';
import { WorkerStateError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, formatCheckpoint } from '../store/names.js';
import { storedErrorText } from '../events/error-text.js';
import type { ProjectionFailure } from './progress.js';
import { readVersion } from './registry.js';
import { applyEvents } from './tables.js';

/** The key of a projection version's rows in `parked_events`. */
export function failureKey(name: string, version: number): string {
  return `${name}@v${version}`;
}

interface FailureDbRow {
  id: string;
  status: 'retrying' | 'parked' | 'skipped' | 'resolved';
  stream: string;
  stream_position: string;
  event_id: string;
  event_type: string;
  error: string;
  attempts: number;
  next_attempt_at: Date | null;
}

/** What `parked_events` says of a version: the failing event it is stopped at, or a skip not yet carried out. */
export interface FailureState {
  failure: ProjectionFailure | null;
  skipped: { id: string; eventId: string } | null;
}

export async function loadFailure(ex: Queryable, q: string, key: string): Promise<FailureState> {
  const rows = await ex.query<FailureDbRow>(
    `select id::text as id, status, stream, stream_position::text as stream_position, event_id::text as event_id,
            event_type, error, attempts, next_attempt_at
       from ${q}.parked_events
      where consumer = $1 and (status in ('retrying', 'parked') or (status = 'skipped' and caught_up_at is null))
      order by id`,
    [key],
  );
  const active = rows.find((r) => r.status === 'retrying' || r.status === 'parked');
  const skipped = rows.find((r) => r.status === 'skipped');
  return {
    failure: active
      ? {
          id: active.id,
          status: active.status as ProjectionFailure['status'],
          eventId: active.event_id,
          eventType: active.event_type,
          stream: active.stream,
          streamPosition: Number(active.stream_position),
          error: active.error,
          attempts: active.attempts,
          nextAttemptAt: active.next_attempt_at,
        }
      : null,
    skipped: skipped ? { id: skipped.id, eventId: skipped.event_id } : null,
  };
}

export interface PageOutcome {
  /** Events of the page applied (all of them, or those before the failing one). */
  applied: number;
  /** The version's checkpoint after the page. */
  checkpoint: string;
  /** The failing event as recorded, and the handler's error; null when the page applied whole. */
  failure: ProjectionFailure | null;
  error: Error | null;
}

/** A handler (or the batch handler) threw while applying a page. */
class PageFailed extends Error {}

export class MovedError extends Error {
  constructor(def: ProjectionDefinition) {
    super(`projection ${def.name} v${def.version} was moved by another process`);
  }
}

/**
 * Bookkeeping of the caller's that commits or rolls back with a page (a rebuild job's progress): one
 * data-modifying statement returning a row (`update … returning *`, parameters from $1). When the page applies
 * whole it travels with the version's checkpoint move, in the same round trip; when the page was applied one event
 * at a time it runs on its own, and only if every event applied.
 */
export interface PageCommit {
  text: string;
  params: readonly unknown[];
  /** Takes the row the statement returned (undefined when none); throwing rolls the page back. */
  check(row: Record<string, unknown> | undefined): void;
}

/** Runs the caller's bookkeeping on its own (a page applied one event at a time, or with nothing left to apply). */
export async function runPageCommit(ex: Queryable, commit: PageCommit): Promise<void> {
  const [row] = await ex.query<Record<string, unknown>>(commit.text, commit.params);
  commit.check(row);
}

/** Moves the version from `from` to a page's checkpoint (parameters from $offset+1); no row when it was moved. */
function advanceSql(q: string, offset: number): string {
  const p = (n: number) => `$${offset + n}`;
  return `update ${q}.projections set checkpoint = ${p(3)}, applied = applied + ${p(4)}, updated_at = now()
          where name = ${p(1)} and version = ${p(2)} and checkpoint = ${p(5)} returning 1`;
}

/**
 * Locks the version row, checks it still stands at `from` and moves it past the whole page, in one statement (with
 * the caller's `commit` statement when there is one): the first statement of a page that applies whole.
 */
async function advanceWhole(
  ex: Queryable,
  q: string,
  def: ProjectionDefinition,
  from: string,
  pageCheckpoint: string,
  count: number,
  commit: PageCommit | undefined,
): Promise<void> {
  const advance = [def.name, def.version, pageCheckpoint, count, from];
  if (commit === undefined) {
    const rows = await ex.query(advanceSql(q, 0), advance, { prepare: true });
    if (rows.length === 0) throw new MovedError(def);
    return;
  }
  const n = commit.params.length;
  const [row] = await ex.query<Record<string, unknown>>(
    `with v as (${advanceSql(q, n)}), c as (${commit.text})
     select a.n as eventlane_advanced, b.n as eventlane_saved, c.*
       from (select count(*)::int as n from v) a cross join (select count(*)::int as n from c) b left join c on true`,
    [...commit.params, ...advance],
    { prepare: true },
  );
  if (row === undefined || row.eventlane_advanced === 0) throw new MovedError(def);
  const saved = row.eventlane_saved === 0 ? undefined : { ...row };
  if (saved !== undefined) {
    delete saved.eventlane_advanced;
    delete saved.eventlane_saved;
  }
  commit.check(saved);
}

/**
 * Applies one page and moves the version's checkpoint in the same transaction. The row lock and the checkpoint
 * comparison fence out a second process building the same version: its page then rolls back and it re-reads.
 * The version row is locked, checked and moved past the page first, in one statement; when a handler fails, the
 * page is rolled back and applied again one event at a time, each under a savepoint (the only way to find the
 * failing event of a batch handler): the events before the failing one commit with the checkpoint just before it,
 * together with the failure record. `active` is the failure the version was stopped at; it is resolved once its
 * event applies. `commit` is the caller's bookkeeping, committed with the page (see PageCommit).
 */
export async function applyPage(
  db: Driver,
  q: string,
  def: ProjectionDefinition,
  tables: Record<string, string>,
  from: string,
  events: readonly StoredEvent[],
  pageCheckpoint: string,
  active: ProjectionFailure | null,
  retry: RetryOptions,
  commit?: PageCommit,
): Promise<PageOutcome> {
  const whole = () =>
    db.transaction(async (ex): Promise<PageOutcome> => {
      await advanceWhole(ex, q, def, from, pageCheckpoint, events.length, commit);
      try {
        await applyEvents(def, ex, tables, events);
      } catch {
        throw new PageFailed();
      }
      if (active !== null) await resolveFailures(ex, q, [active.id]);
      return { applied: events.length, checkpoint: pageCheckpoint, failure: null, error: null };
    });
  const oneByOne = () =>
    db.transaction(async (ex): Promise<PageOutcome> => {
      const row = await readVersion(ex, q, def.name, def.version, 'for update');
      if (row === undefined || row.checkpoint !== from) throw new MovedError(def);
      let upTo = events.length;
      let error: Error | null = null;
      for (let i = 0; i < events.length; i++) {
        await ex.query('savepoint eventlane_event');
        try {
          await applyEvents(def, ex, tables, [events[i]!]);
          await ex.query('release savepoint eventlane_event');
        } catch (e) {
          await ex.query('rollback to savepoint eventlane_event');
          error = e instanceof Error ? e : new Error(String(e));
          upTo = i;
          break;
        }
      }
      const checkpoint =
        upTo === events.length ? pageCheckpoint : upTo > 0 ? events[upTo - 1]!.checkpoint : from;
      await ex.query(
        `update ${q}.projections set checkpoint = $3, applied = applied + $4, updated_at = now()
          where name = $1 and version = $2`,
        [def.name, def.version, checkpoint, upTo],
      );
      const failed = error === null ? null : events[upTo]!;
      if (active !== null && failed?.id !== active.eventId) await resolveFailures(ex, q, [active.id]);
      if (failed === null || error === null) {
        if (commit !== undefined) await runPageCommit(ex, commit);
        return { applied: upTo, checkpoint, failure: null, error: null };
      }
      const text = storedErrorText(error);
      const message = text.message;
      const recorded = await recordFailure(ex, q, {
        consumer: failureKey(def.name, def.version),
        partition: 0,
        stream: failed.stream,
        streamPosition: failed.streamPosition,
        eventId: failed.id,
        eventType: failed.type,
        error: message,
        errorCode: text.code,
        stack: text.stack,
        maxAttempts: retry.maxAttempts,
        delayMs: (n) => backoffDelay(retry, n),
      });
      return {
        applied: upTo,
        checkpoint,
        error,
        failure: {
          id: String(recorded.id),
          status: recorded.status === 'parked' ? 'parked' : 'retrying',
          eventId: failed.id,
          eventType: failed.type,
          stream: failed.stream,
          streamPosition: failed.streamPosition,
          error: message,
          attempts: recorded.attempts,
          nextAttemptAt: recorded.next_attempt_at,
        },
      };
    });
  try {
    return await whole();
  } catch (error) {
    if (!(error instanceof PageFailed)) throw error;
  }
  return oneByOne();
}

/**
 * Carries out an operator's skip: the version's checkpoint moves past the skipped event when it is the next event
 * after the checkpoint (the version is stopped right before it), and the skip is marked done.
 */
export async function settleSkip(
  db: Driver,
  q: string,
  def: ProjectionDefinition,
  skipped: { id: string; eventId: string },
): Promise<void> {
  await db.transaction(async (ex) => {
    const row = await readVersion(ex, q, def.name, def.version, 'for update');
    const [event] = await ex.query<{ tx: string; gp: string; between: string }>(
      `select e.tx_order::text as tx, e.global_position::text as gp,
              (select count(*) from ${q}.events b
                where (b.tx_order, b.global_position) > (split_part($2, ':', 1)::xid8, split_part($2, ':', 2)::bigint)
                  and (b.tx_order, b.global_position) < (e.tx_order, e.global_position))::text as between
         from ${q}.events e where e.id = $1`,
      [skipped.eventId, row?.checkpoint ?? '0:0'],
    );
    if (row !== undefined && event !== undefined && event.between === '0') {
      const checkpoint = formatCheckpoint(event.tx, event.gp);
      if (compareCheckpoints(checkpoint, row.checkpoint) > 0) {
        await ex.query(
          `update ${q}.projections set checkpoint = $3, updated_at = now() where name = $1 and version = $2`,
          [def.name, def.version, checkpoint],
        );
      }
    }
    await ex.query(`update ${q}.parked_events set caught_up_at = now() where id = $1`, [skipped.id]);
  });
}

async function activeRow(
  store: EventStore,
  def: ProjectionDefinition,
  statuses: ParkedEvent['status'][],
): Promise<ParkedEvent> {
  const key = failureKey(def.name, def.version);
  const [row] = await parkedEvents(store).list({ consumer: key, status: statuses });
  if (row === undefined) {
    throw new WorkerStateError(
      `Projection ${JSON.stringify(def.name)} v${def.version} has no ${statuses.join(' or ')} event ` +
        `(it is not stalled); progress(${JSON.stringify(def.name)}).failure shows the event it is stopped at.`,
    );
  }
  return row;
}

/** Operator retry: the parked event gets fresh attempts, due now. */
export async function retryParked(store: EventStore, def: ProjectionDefinition): Promise<ParkedEvent> {
  return parkedEvents(store).retry((await activeRow(store, def, ['parked'])).id);
}

/** Operator skip: the version moves past the failing event (parked or retrying) without applying it. */
export async function skipFailing(
  store: EventStore,
  def: ProjectionDefinition,
  options: { by: string; reason?: string },
): Promise<ParkedEvent> {
  return parkedEvents(store).skip((await activeRow(store, def, ['parked', 'retrying'])).id, options);
}
