import type { BreakerState } from '../consumers/breaker.js';
import type { ProjectionDefinition } from '../consumers/define.js';
import type { ProjectionFailure } from '../consumers/worker-types.js';
import { LOG_START } from '../store/names.js';
import type { VersionStatus } from './registry.js';

export type { ProjectionFailure };

export interface ProjectionProgress {
  name: string;
  version: number;
  /**
   * The version's state: its registry status, or 'stalled' while a failing event blocks it (retrying or parked;
   * see `failure`). A stalled version does not move; `versionStatus` still says whether it is building or live.
   */
  status: VersionStatus | 'stalled' | 'unknown';
  /** The version's status in the registry (building, live, retired, dropped). */
  versionStatus: VersionStatus | 'unknown';
  /** Events applied to this version so far (all runs, from its checkpoint row). */
  done: number;
  /** Events in the log when this run last measured it (done + what was behind the checkpoint then). */
  total: number;
  /** Events per second applied by this process over its run. */
  rate: number;
  /** Estimated milliseconds to catch up; null when the rate is unknown or the version is stalled. */
  etaMs: number | null;
  checkpoint: string;
  /** The event the version is stopped at, or null when it runs. */
  failure: ProjectionFailure | null;
  /** The retry-storm breaker of this projection in this process. */
  breaker: BreakerState;
  /**
   * The `rebuild` replay job this process last ran for the version while it was building (see docs/replay.md):
   * `createReplay(…).get(job)` shows it; null once live, or before a rebuild pass.
   */
  job: string | null;
}

/** What the runner knows of one projection in this process. */
export interface RunState {
  def: ProjectionDefinition;
  checkpoint: string;
  done: number;
  total: number;
  startedAt: number;
  appliedThisRun: number;
  status: VersionStatus | 'unknown';
  failure: ProjectionFailure | null;
  /** The rebuild job of the version run here (null when none). */
  job: string | null;
}

export function toProgress(
  def: ProjectionDefinition,
  s: RunState | undefined,
  breaker: BreakerState,
): ProjectionProgress {
  if (s === undefined) {
    return {
      name: def.name,
      version: def.version,
      status: 'unknown',
      versionStatus: 'unknown',
      done: 0,
      total: 0,
      rate: 0,
      etaMs: null,
      checkpoint: LOG_START,
      failure: null,
      breaker,
      job: null,
    };
  }
  const seconds = (Date.now() - s.startedAt) / 1000;
  const rate = seconds > 0 ? s.appliedThisRun / seconds : 0;
  const left = Math.max(0, s.total - s.done);
  const stalled = s.failure !== null;
  return {
    name: def.name,
    version: def.version,
    status: stalled ? 'stalled' : s.status,
    versionStatus: s.status,
    done: s.done,
    total: s.total,
    rate,
    etaMs: stalled ? null : left === 0 ? 0 : rate > 0 ? (left / rate) * 1000 : null,
    checkpoint: s.checkpoint,
    failure: s.failure === null ? null : { ...s.failure },
    breaker,
    job: s.job,
  };
}
