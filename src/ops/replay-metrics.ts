// The `eventlane_db_replay_*` series: progress and rate of replay jobs, read from the jobs table at scrape time, so
// `eventlane serve` reports the jobs of every process. Label cardinality stays bounded: only jobs not finished, or
// finished (completed or cancelled) in the last hour, at most 1000 of them.

import { Gauge, type Registry } from 'prom-client';
import { toJob, type DbReplayJob } from '../replay/jobs.js';
import type { ReplayJob } from '../replay/types.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';

/** How long after it ended a finished job keeps its series. */
const FINISHED_KEPT_SECONDS = 3600;
const MAX_JOBS = 1000;

/** The jobs the series describe, newest first. */
export async function readReplayJobs(store: EventStore): Promise<ReplayJob[]> {
  const rows = await store.executor.query<DbReplayJob>(
    `select * from ${quoteIdent(store.schema)}.replay_jobs
      where state not in ('completed', 'cancelled')
         or coalesce(finished_at, updated_at) > now() - make_interval(secs => $1)
      order by created_at desc, id desc limit $2`,
    [FINISHED_KEPT_SECONDS, MAX_JOBS],
  );
  return rows.map((r) => toJob(r));
}

/** Registers the per-job gauges; `read` is the (memoised) read of `readReplayJobs`. */
export function registerReplayJobMetrics(
  registry: Registry,
  read: () => Promise<ReplayJob[] | undefined>,
): void {
  const perJob = (name: string, help: string, value: (j: ReplayJob) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['job', 'kind', 'consumer', 'state'],
      registers: [registry],
      async collect() {
        const jobs = await read();
        this.reset();
        for (const j of jobs ?? []) {
          const v = value(j);
          if (v !== null) this.set({ job: j.id, kind: j.kind, consumer: j.consumer, state: j.state }, v);
        }
      },
    });
  };
  perJob(
    'eventlane_db_replay_job_done_events',
    'Events of its range a replay job has been through (committed).',
    (j) => j.done,
  );
  perJob(
    'eventlane_db_replay_job_total_events',
    'Events in the range of a replay job, as counted at its start (grows while it follows the head).',
    (j) => j.total,
  );
  perJob(
    'eventlane_db_replay_job_events_per_second',
    'Average events per second of a replay job from its start to its last committed page.',
    (j) => j.rate,
  );
  perJob(
    'eventlane_db_replay_job_max_events_per_second',
    'The events/s limit of a replay job; absent when it has none.',
    (j) => j.maxEventsPerSecond,
  );
  perJob(
    'eventlane_db_replay_job_eta_seconds',
    'Estimated seconds until a replay job ends at its average rate; 0 when finished, absent when unknown.',
    (j) => (j.etaMs === null ? null : j.etaMs / 1000),
  );
}
