import { Gauge, type Registry } from 'prom-client';
import type { ReplayJob, ReplayState } from './types.js';

const STATES: readonly ReplayState[] = ['queued', 'running', 'paused', 'failed'];

/**
 * The replay gauges, read from the jobs table at scrape time (so a scrape reports jobs of every process): jobs by
 * state, and done, total, rate and ETA of each job not completed or cancelled.
 */
export function registerReplayMetrics(registry: Registry, jobs: () => Promise<ReplayJob[]>): void {
  const perJob = (name: string, help: string, value: (j: ReplayJob) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['job', 'kind', 'consumer'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const j of await jobs()) {
          const v = value(j);
          if (v !== null) this.set({ job: j.id, kind: j.kind, consumer: j.consumer }, v);
        }
      },
    });
  };
  new Gauge({
    name: 'eventlane_replay_jobs',
    help: 'Replay jobs not completed or cancelled, by state.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const all = await jobs();
      for (const s of STATES) this.set({ state: s }, all.filter((j) => j.state === s).length);
    },
  });
  perJob('eventlane_replay_done_events', 'Events of the range a replay job has been through.', (j) => j.done);
  perJob(
    'eventlane_replay_total_events',
    'Events in the range of a replay job (as counted at start).',
    (j) => j.total,
  );
  perJob(
    'eventlane_replay_applied_events',
    'Events a replay job applied (or ran handlers for).',
    (j) => j.applied,
  );
  perJob(
    'eventlane_replay_rate_events_per_second',
    'Events per second of a replay job’s current run.',
    (j) => (j.state === 'running' ? j.rate : 0),
  );
  perJob(
    'eventlane_replay_eta_seconds',
    'Estimated seconds until a replay job ends; absent when unknown.',
    (j) => (j.etaMs === null ? null : j.etaMs / 1000),
  );
}
