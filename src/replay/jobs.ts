// The replay_jobs table: one function per statement. Values are parameters; `q` is the store's quoted schema.

import type { Queryable } from '../consumers/sql.js';
import { ReplayJobNotFoundError, ReplayJobStateError } from '../errors.js';
import { jobIdentity, type ReplaySpec } from './spec.js';
import {
  emptyReport,
  type ReplayJob,
  type ReplayKind,
  type ReplayReport,
  type ReplayState,
} from './types.js';

/** A row of replay_jobs (snake_case, as stored). */
export interface DbReplayJob {
  id: string;
  kind: ReplayKind;
  consumer: string;
  from_checkpoint: string;
  to_checkpoint: string | null;
  event_types: string[] | null;
  stream_prefix: string | null;
  reprocess: boolean;
  max_events_per_second: number | null;
  concurrency: number;
  adaptive: boolean;
  state: ReplayState;
  checkpoint: string;
  done: string;
  total: string;
  skipped: string;
  applied: string;
  report: ReplayReport;
  error: string | null;
  owner: string | null;
  run_token: string;
  heartbeat_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  updated_at: Date;
  finished_at: Date | null;
}

export async function insertJob(
  ex: Queryable,
  q: string,
  id: string,
  spec: ReplaySpec,
  total: number,
): Promise<DbReplayJob> {
  const [row] = await ex.query<DbReplayJob>(
    `insert into ${q}.replay_jobs (id, kind, consumer, from_checkpoint, to_checkpoint, event_types, stream_prefix,
            reprocess, max_events_per_second, concurrency, adaptive, state, checkpoint, total, report)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $4, $12, $13::jsonb)
     returning *`,
    [
      id,
      ...jobIdentity(spec),
      spec.maxEventsPerSecond,
      spec.concurrency,
      spec.adaptive,
      total,
      JSON.stringify(emptyReport()),
    ],
  );
  return row!;
}

export async function readJob(ex: Queryable, q: string, id: unknown): Promise<DbReplayJob> {
  if (typeof id !== 'string' || id.length === 0 || id.length > 100) throw new ReplayJobNotFoundError(id);
  const [row] = await ex.query<DbReplayJob>(`select * from ${q}.replay_jobs where id = $1`, [id]);
  if (row === undefined) throw new ReplayJobNotFoundError(id);
  return row;
}

export async function listJobs(
  ex: Queryable,
  q: string,
  filter: { states: readonly ReplayState[] | null; limit: number },
): Promise<DbReplayJob[]> {
  return ex.query<DbReplayJob>(
    `select * from ${q}.replay_jobs where ($1::text[] is null or state = any($1::text[]))
      order by created_at desc, id desc limit $2`,
    [filter.states, filter.limit],
  );
}

/**
 * Takes a job for a run in this process: a new run token fences out any earlier run. A job 'running' elsewhere
 * with a fresh heartbeat is refused unless `takeOver` (the operator knows that process is gone).
 */
export async function claimJob(
  ex: Queryable,
  q: string,
  id: string,
  owner: string,
  staleMs: number,
  takeOver: boolean,
): Promise<DbReplayJob> {
  const [row] = await ex.query<DbReplayJob>(
    `update ${q}.replay_jobs
        set state = 'running', owner = $2, run_token = run_token + 1, heartbeat_at = now(), updated_at = now(),
            started_at = coalesce(started_at, now()), error = null
      where id = $1 and (state in ('queued', 'paused', 'failed')
         or (state = 'running' and ($4 or heartbeat_at is null or heartbeat_at < now() - make_interval(secs => $3))))
      returning *`,
    [id, owner, staleMs / 1000, takeOver],
  );
  if (row !== undefined) return row;
  const current = await readJob(ex, q, id);
  throw new ReplayJobStateError(
    id,
    current.state,
    'resumed',
    current.state === 'running'
      ? `Its process (${current.owner ?? 'unknown'}) sent a heartbeat at ${current.heartbeat_at?.toISOString() ?? '-'}; ` +
          'pause it first, or pass { takeOver: true } if that process is gone.'
      : 'Only queued, paused, failed or abandoned running jobs resume; start a new job to replay again.',
  );
}

export interface PageProgress {
  checkpoint: string;
  done: number;
  applied: number;
  skipped: number;
  report: ReplayReport;
}

/**
 * The statement that moves the job's checkpoint and counts, run in the caller's transaction (the page's own). It
 * returns the job's row as it is now (an operator may have paused it or changed its rate), or none when another run
 * took the job over: the caller must roll back. The heartbeat is the statement's clock, not its transaction's: it
 * is later than any operator change the row shows.
 */
export function savePageStatement(
  q: string,
  id: string,
  token: string,
  p: PageProgress,
): { text: string; params: unknown[] } {
  return {
    text: `update ${q}.replay_jobs
        set checkpoint = $3, done = done + $4, applied = applied + $5, skipped = skipped + $6, report = $7::jsonb,
            total = greatest(total, done + $4), heartbeat_at = clock_timestamp(), updated_at = now()
      where id = $1 and run_token = $2
      returning *`,
    params: [id, token, p.checkpoint, p.done, p.applied, p.skipped, JSON.stringify(p.report)],
  };
}

/** Counts only (concurrent sub-pages commit these in their own transactions; the checkpoint moves after all). */
export async function addCounts(
  ex: Queryable,
  q: string,
  id: string,
  token: string,
  c: { applied: number; skipped: number },
): Promise<boolean> {
  const rows = await ex.query(
    `update ${q}.replay_jobs set applied = applied + $3, skipped = skipped + $4, updated_at = now()
      where id = $1 and run_token = $2 returning id`,
    [id, token, c.applied, c.skipped],
  );
  return rows.length > 0;
}

/** The job row as it is, fenced by the run token (null when another run took over). Also a heartbeat. */
export async function heartbeat(
  ex: Queryable,
  q: string,
  id: string,
  token: string,
): Promise<DbReplayJob | null> {
  const [row] = await ex.query<DbReplayJob>(
    `update ${q}.replay_jobs set heartbeat_at = now() where id = $1 and run_token = $2 returning *`,
    [id, token],
  );
  return row ?? null;
}

/** Ends a run: completed or failed (with the error), by the run that holds the token. */
export async function finishRun(
  ex: Queryable,
  q: string,
  id: string,
  token: string,
  state: 'completed' | 'failed',
  end: { checkpoint?: string; error?: string; report?: ReplayReport },
): Promise<void> {
  await ex.query(
    `update ${q}.replay_jobs
        set state = $3, checkpoint = coalesce($4, checkpoint), error = $5, report = coalesce($6::jsonb, report),
            owner = null, updated_at = now(), finished_at = case when $3 = 'completed' then now() else finished_at end
      where id = $1 and run_token = $2 and state = 'running'`,
    [
      id,
      token,
      state,
      end.checkpoint ?? null,
      end.error ?? null,
      end.report ? JSON.stringify(end.report) : null,
    ],
  );
}

/** An operator's pause or cancel: a state change the running process sees at its next page. */
export async function changeState(
  ex: Queryable,
  q: string,
  id: string,
  to: 'paused' | 'cancelled',
): Promise<DbReplayJob> {
  const allowed = to === 'paused' ? ['queued', 'running'] : ['queued', 'running', 'paused', 'failed'];
  const [row] = await ex.query<DbReplayJob>(
    `update ${q}.replay_jobs set state = $2, updated_at = now(),
            finished_at = case when $2 = 'cancelled' then now() else finished_at end
      where id = $1 and state = any($3::text[]) returning *`,
    [id, to, allowed],
  );
  if (row !== undefined) return row;
  const current = await readJob(ex, q, id);
  throw new ReplayJobStateError(
    id,
    current.state,
    to,
    to === 'paused' ? 'Only queued or running jobs pause.' : 'Completed and cancelled jobs stay as they are.',
  );
}

/** A rate change on a job in any state but the final ones; a running job reads it at its next page. */
export async function changeRate(
  ex: Queryable,
  q: string,
  id: string,
  rate: number | null,
): Promise<DbReplayJob> {
  const [row] = await ex.query<DbReplayJob>(
    `update ${q}.replay_jobs set max_events_per_second = $2, updated_at = now()
      where id = $1 and state in ('queued', 'running', 'paused', 'failed') returning *`,
    [id, rate],
  );
  if (row !== undefined) return row;
  const current = await readJob(ex, q, id);
  throw new ReplayJobStateError(id, current.state, 'given a new rate', 'Its run is over.');
}

/** 0 when over; null while following (no end) or before a rate is known. */
function eta(final: boolean, following: boolean, left: number, rate: number): number | null {
  if (final) return 0;
  if (following) return null;
  if (left === 0) return 0;
  return rate > 0 ? (left / rate) * 1000 : null;
}

/** The public view of a row; `live` holds this process's rate when the job runs here. */
export function toJob(row: DbReplayJob, live?: { rate: number }): ReplayJob {
  const done = Number(row.done);
  const total = Number(row.total);
  const seconds = row.started_at === null ? 0 : (row.updated_at.getTime() - row.started_at.getTime()) / 1000;
  const rate = live?.rate ?? (seconds > 0 ? done / seconds : 0);
  const left = Math.max(0, total - done);
  const final = row.state === 'completed' || row.state === 'cancelled';
  return {
    id: row.id,
    kind: row.kind,
    consumer: row.consumer,
    state: row.state,
    from: row.from_checkpoint,
    to: row.to_checkpoint,
    types: row.event_types,
    streamPrefix: row.stream_prefix,
    reprocess: row.reprocess,
    maxEventsPerSecond: row.max_events_per_second === null ? null : Number(row.max_events_per_second),
    concurrency: row.concurrency,
    adaptive: row.adaptive,
    checkpoint: row.checkpoint,
    done,
    total,
    applied: Number(row.applied),
    skipped: Number(row.skipped),
    rate,
    etaMs: eta(final, row.to_checkpoint === null, left, rate),
    report: row.report,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}
