// The rebuild of a building projection version as createProjections runs it: through a `rebuild` job of this
// engine, so that a version is built by one code path (paging, throttle, progress, resume) whoever starts it.

import type { ProjectionDefinition } from '../consumers/define.js';
import { ReplayJobStateError } from '../errors.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints } from '../store/names.js';
import { readVersion } from '../projections/registry.js';
import { changeState, claimJob, insertJob, type DbReplayJob } from './jobs.js';
import { countRange } from './read-range.js';
import type { RebuildHooks } from './rebuild.js';
import { JobRun } from './run.js';
import { systemClock } from './throttle.js';
import { uuidv7 } from '../events/ids.js';

export interface RebuildRunEnv {
  store: EventStore;
  db: Driver;
  q: string;
  owner: string;
  pageSize: number;
  pollMs: number;
  /** The rate limit of a job this creates (a job found running keeps its own, as an operator may have set it). */
  maxEventsPerSecond: number | null;
  /** A job 'running' with a heartbeat older than this is taken over (its process is presumed gone). */
  staleMs: number;
  hooks: RebuildHooks;
  onError(error: Error): void;
  stopping(): boolean;
  /** Called with the job when this process starts running it. */
  onRun(job: DbReplayJob): void;
}

/**
 * How a rebuild pass ended: `caught-up` (nothing after the version's checkpoint when it started, or its job
 * completed), `busy` (another process runs the version's job, or an operator paused it), `stopped`, or `failed`
 * (an event failed: it is recorded as the runner records failures; the job resumes on the next pass).
 */
export type RebuildPass = 'caught-up' | 'busy' | 'stopped' | 'failed';

const OPEN_STATES = ['queued', 'running', 'paused', 'failed'];

/** The version's open rebuild job, if any: one created by a runner, or one an operator started with createReplay. */
export async function openRebuildJob(db: Driver, q: string, name: string): Promise<DbReplayJob | undefined> {
  const [row] = await db.query<DbReplayJob>(
    `select * from ${q}.replay_jobs where kind = 'rebuild' and consumer = $1 and state = any($2::text[])
      order by created_at desc, id desc limit 1`,
    [name, OPEN_STATES],
  );
  return row;
}

/**
 * Builds the defined version of `def` (status building) up to the head as it is now, through the version's open
 * rebuild job or a new one. A job whose checkpoint is past the version's (left by an earlier version of the same
 * name) is cancelled: resuming it would skip events. One behind the version's is safe to resume: its pages are
 * filtered against the version's checkpoint.
 */
export async function runRebuildPass(env: RebuildRunEnv, def: ProjectionDefinition): Promise<RebuildPass> {
  const { db, q } = env;
  const version = await readVersion(db, q, def.name, def.version);
  if (version === undefined || version.status !== 'building') return 'caught-up';
  let job = await openRebuildJob(db, q, def.name);
  if (job !== undefined && compareCheckpoints(job.checkpoint, version.checkpoint) > 0) {
    await changeState(db, q, job.id, 'cancelled').catch(() => undefined);
    job = undefined;
  }
  if (job?.state === 'paused') return 'busy';
  if (job === undefined) {
    const head = (await env.store.head()).checkpoint;
    if (compareCheckpoints(head, version.checkpoint) <= 0) return 'caught-up';
    const spec = {
      kind: 'rebuild' as const,
      consumer: def,
      from: version.checkpoint,
      to: head,
      types: null,
      streamPrefix: null,
      reprocess: false,
      maxEventsPerSecond: env.maxEventsPerSecond,
      concurrency: 1,
      adaptive: false,
    };
    const counts = await countRange(db, q, { ...spec, after: spec.from }, env.store.logArchive);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    job = await insertJob(db, q, uuidv7(), spec, total);
  }
  let claimed: DbReplayJob;
  try {
    claimed = await claimJob(db, q, job.id, env.owner, env.staleMs, false);
  } catch (error) {
    // Running in another process (fresh heartbeat), or finished in between: look again on the next pass.
    if (error instanceof ReplayJobStateError) return 'busy';
    throw error;
  }
  env.onRun(claimed);
  const run = new JobRun(
    {
      store: env.store,
      db,
      q,
      consumer: def,
      owner: env.owner,
      pageSize: env.pageSize,
      pollMs: env.pollMs,
      clock: systemClock,
      adaptive: {},
      onError: (error) => env.onError(error),
      stopping: () => env.stopping(),
      rebuild: env.hooks,
    },
    claimed,
  );
  await run.run();
  const state = run.row.state;
  if (state === 'running') {
    // Stopped (or the bookkeeping failed): queued again, so the next runner resumes it at once.
    await db.query(
      `update ${q}.replay_jobs set state = 'queued', owner = null, updated_at = now()
        where id = $1 and run_token = $2 and state = 'running'`,
      [run.id, run.row.run_token],
    );
    return 'stopped';
  }
  if (state === 'failed') return 'failed';
  if (state === 'completed') return 'caught-up';
  return 'busy';
}
