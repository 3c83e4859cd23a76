// How a page of a replay is applied, by kind. Each reuses the consumer runtime's own paths: the order guard's SQL
// (consumers/sql.ts), the projections' page transaction (projections/failures.ts) and the effect journal
// (consumers/effects.ts). Rebuilds and backfills call projection handlers only; reactors run in dry-run or
// reactor-replay jobs, and nowhere else.

import { callHandler } from '../consumers/call.js';
import {
  handlerOf,
  type ProjectionContext,
  type ProjectionDefinition,
  type ReactorContext,
  type ReactorDefinition,
} from '../consumers/define.js';
import { idempotencyKey, performEffect } from '../consumers/effects.js';
import { loadPositions, saveProgress, type LeaseRef, type Queryable } from '../consumers/sql.js';
import type { StoredEvent } from '../events/envelope.js';
import type { Driver, SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints } from '../store/names.js';
import { MAX_READ_STREAM_LIMIT, readStream } from '../store/read.js';
import { revealEvents } from '../store/personal-data.js';
import { sqlStatement } from '../store/sql-template.js';
import { applyEvents, tableMap } from '../projections/tables.js';
import { readVersion } from '../projections/registry.js';
import type { EffectSummary, ReplayReport } from './types.js';

/** A projection or reactor handler failed on `event`: the page rolled back and the job stops there. */
export class ReplayHandlerFailure extends Error {
  constructor(
    readonly event: StoredEvent,
    override readonly cause: Error,
  ) {
    super(cause.message);
  }
}

/** What one page (or one concurrent part of it) did. */
export interface Tally {
  applied: number;
  skipped: number;
}

export interface ApplyContext {
  store: EventStore;
  db: Driver;
  q: string;
  report: ReplayReport;
  reprocess: boolean;
}

function projectionContext(
  ex: Pick<SqlExecutor, 'query'>,
  tables: Record<string, string>,
): ProjectionContext {
  return {
    sql: (strings, ...values) => {
      const { text, params } = sqlStatement(strings, values);
      return ex.query(text, params);
    },
    query: (text, params) => ex.query(text, params),
    tables,
  };
}

async function runProjectionHandler(
  def: ProjectionDefinition,
  event: StoredEvent,
  context: ProjectionContext,
): Promise<void> {
  const handler = handlerOf(def.handlers, event.type);
  if (handler === undefined) return;
  try {
    await callHandler(
      `Handler ${JSON.stringify(event.type)} of projection ${JSON.stringify(def.name)}`,
      () => handler(event, context),
      event,
    );
  } catch (error) {
    throw new ReplayHandlerFailure(event, error as Error);
  }
}

/**
 * A backfill into a handler-only projection (one `createWorker` runs), in the caller's transaction, with the
 * consumer's own order guard: positions locked, at or below the guard a no-op (or re-applied with `reprocess`),
 * the next one applied, a later one applied after the events missing before it are read from the store. Streams
 * stopped at a parked event of the consumer are left alone, as the worker leaves them.
 */
export async function applyGuarded(
  ctx: ApplyContext,
  ex: SqlExecutor,
  def: ProjectionDefinition,
  events: readonly StoredEvent[],
): Promise<Tally> {
  const { q, report } = ctx;
  const streams = [...new Set(events.map((e) => e.stream))];
  const blockedRows = await ex.query<{ stream: string }>(
    `select distinct stream from ${q}.parked_events where consumer = $1 and stream = any($2::text[])
        and (status in ('retrying', 'parked') or caught_up_at is null)`,
    [def.name, streams],
  );
  const blocked = new Set(blockedRows.map((r) => r.stream));
  const known = await loadPositions(ex, q, def.name, streams, true);
  const changed = new Map<string, number>();
  const context = projectionContext(ex, {});
  const upcast = ctx.store.contracts;
  const tally: Tally = { applied: 0, skipped: 0 };
  for (const e of events) {
    if (blocked.has(e.stream)) {
      report.blocked++;
      tally.skipped++;
      continue;
    }
    let last = changed.get(e.stream) ?? known.get(e.stream) ?? 0;
    if (e.streamPosition <= last) {
      if (ctx.reprocess) {
        await runProjectionHandler(def, e, context);
        report.reprocessed++;
        tally.applied++;
      } else {
        report.alreadyApplied++;
        tally.skipped++;
      }
      continue;
    }
    // Per-entity order before the filter: the events of this stream the consumer has not applied yet come first.
    while (e.streamPosition > last + 1) {
      // Through the archive: the stream's earlier events may have left the table (an archived closed stream).
      const missing = await readStream(
        ex,
        q,
        e.stream,
        {
          from: last + 1,
          limit: Math.min(e.streamPosition - last - 1, MAX_READ_STREAM_LIMIT),
          archived: 'read',
        },
        ctx.store.logArchive,
      );
      const before = last;
      // Read as every other event of the page is: personal fields revealed (or erased), then upcast.
      for (const m of await revealEvents(ex, q, missing, 'mark')) {
        if (m.streamPosition !== last + 1 || m.streamPosition >= e.streamPosition) break;
        await runProjectionHandler(def, upcast === undefined ? m : upcast.upcast(m), context);
        report.gapFilled++;
        last = m.streamPosition;
      }
      if (last === before) break;
    }
    if (e.streamPosition !== last + 1) {
      tally.skipped++;
      continue;
    }
    await runProjectionHandler(def, e, context);
    tally.applied++;
    changed.set(e.stream, e.streamPosition);
  }
  await saveProgress(ex, q, {
    consumer: def.name,
    partition: 0,
    positions: changed,
    checkpoint: null,
    resolved: [],
    lease: null,
  });
  return tally;
}

/**
 * A backfill into a versioned projection's defined version, in the caller's transaction: its checkpoint is its order
 * guard. Events at or before it are a no-op (re-applied with `reprocess`); later ones are its runner's to apply.
 * The version row is locked, so a page never interleaves with a page of the runner.
 */
export async function applyVersioned(
  ctx: ApplyContext,
  ex: SqlExecutor,
  def: ProjectionDefinition,
  events: readonly StoredEvent[],
): Promise<Tally> {
  const row = await readVersion(ex, ctx.q, def.name, def.version, 'for update');
  if (row === undefined) throw new Error(`projection ${def.name} v${def.version} is not registered`);
  const tables = tableMap(def, row.read_schema, def.version);
  const again: StoredEvent[] = [];
  const tally: Tally = { applied: 0, skipped: 0 };
  for (const e of events) {
    if (compareCheckpoints(e.checkpoint, row.checkpoint) > 0) {
      ctx.report.leftToRunner++;
      tally.skipped++;
    } else if (ctx.reprocess) {
      again.push(e);
    } else {
      ctx.report.alreadyApplied++;
      tally.skipped++;
    }
  }
  for (const e of again) {
    try {
      await applyEvents(def, ex, tables, [e]);
    } catch (error) {
      throw new ReplayHandlerFailure(e, error instanceof Error ? error : new Error(String(error)));
    }
  }
  ctx.report.reprocessed += again.length;
  tally.applied += again.length;
  return tally;
}

/** One effect a reactor handler asked for. */
interface AskedEffect {
  name: string;
  event: StoredEvent;
  key: string;
}

const MAX_SAMPLES = 5;

function summary(report: Record<string, EffectSummary>, name: string): EffectSummary {
  let s = report[name];
  if (s === undefined) {
    s = { count: 0, alreadyPerformed: 0, ran: 0, samples: [] };
    report[name] = s;
  }
  return s;
}

/**
 * A dry run of a reactor over events: its handlers run with an `effect` that records the name and key and performs
 * nothing (it resolves to undefined), then the journal says which of them are done already. Adds to `effects`.
 * Returns the number of events a handler ran for.
 */
export async function dryRun(
  ex: Queryable,
  q: string,
  def: ReactorDefinition,
  events: readonly StoredEvent[],
  effects: Record<string, EffectSummary>,
): Promise<number> {
  const asked: AskedEffect[] = [];
  let handled = 0;
  for (const event of events) {
    const handler = handlerOf(def.handlers, event.type);
    if (handler === undefined) continue;
    const context: ReactorContext = {
      effect: <T>(name: string) => {
        if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
          return Promise.reject(
            new Error(
              `effect name must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}.`,
            ),
          );
        }
        asked.push({ name, event, key: idempotencyKey(def.name, event.id, name) });
        return Promise.resolve(undefined as T);
      },
    };
    try {
      await callHandler(
        `Handler ${JSON.stringify(event.type)} of reactor ${JSON.stringify(def.name)} (dry run)`,
        () => handler(event, context),
        event,
      );
    } catch (error) {
      throw new ReplayHandlerFailure(event, error as Error);
    }
    handled++;
  }
  if (asked.length === 0) return handled;
  const done = await ex.query<{ event_id: string; effect: string }>(
    `select event_id::text as event_id, effect from ${q}.effect_journal
      where consumer = $1 and status = 'done' and event_id = any($2::uuid[])`,
    [def.name, [...new Set(asked.map((a) => a.event.id))]],
  );
  const performed = new Set(done.map((d) => `${d.event_id}\u0000${d.effect}`));
  for (const a of asked) {
    const s = summary(effects, a.name);
    s.count++;
    if (performed.has(`${a.event.id}\u0000${a.name}`)) s.alreadyPerformed++;
    if (s.samples.length < MAX_SAMPLES) {
      s.samples.push({
        eventId: a.event.id,
        eventType: a.event.type,
        stream: a.event.stream,
        idempotencyKey: a.key,
      });
    }
  }
  return handled;
}

/**
 * A live replay of a reactor: its handlers with the real `effect`, through the journal, so an effect done before is
 * skipped (and its journaled result returned) and any other is performed once. `lease` is the job's own fence.
 */
export async function replayReactor(
  ctx: ApplyContext,
  def: ReactorDefinition,
  events: readonly StoredEvent[],
  lease: LeaseRef,
  onError: (error: Error) => void,
): Promise<Tally> {
  const tally: Tally = { applied: 0, skipped: 0 };
  for (const event of events) {
    const handler = handlerOf(def.handlers, event.type);
    if (handler === undefined) {
      tally.skipped++;
      continue;
    }
    const context: ReactorContext = {
      effect: async <T>(name: string, fn: (key: string) => Promise<T>) => {
        const outcome = await performEffect(
          ctx.store.executor,
          ctx.q,
          def.name,
          event.id,
          name,
          fn,
          lease,
          onError,
        );
        const s = summary(ctx.report.effects, name);
        s.count++;
        if (outcome.replayed) s.alreadyPerformed++;
        else s.ran++;
        if (s.samples.length < MAX_SAMPLES) {
          s.samples.push({
            eventId: event.id,
            eventType: event.type,
            stream: event.stream,
            idempotencyKey: idempotencyKey(def.name, event.id, name),
          });
        }
        return outcome.result as T;
      },
    };
    try {
      await callHandler(
        `Handler ${JSON.stringify(event.type)} of reactor ${JSON.stringify(def.name)} (replay)`,
        () => handler(event, context),
        event,
      );
    } catch (error) {
      throw new ReplayHandlerFailure(event, error as Error);
    }
    tally.applied++;
  }
  return tally;
}
