import type { RetryOptions } from '../consumers/backoff.js';
import type { ProjectionDefinition } from '../consumers/define.js';
import { resolveRetry } from '../consumers/options.js';
import type { StoredEvent } from '../events/envelope.js';
import { applyPage, MovedError, runPageCommit, type PageCommit } from '../projections/failures.js';
import type { ProjectionFailure } from '../projections/progress.js';
import { readVersion } from '../projections/registry.js';
import { tableMap } from '../projections/tables.js';
import type { Driver } from '../store/drivers/driver.js';
import { compareCheckpoints } from '../store/names.js';
import { ReplayHandlerFailure, type Tally } from './apply.js';
import type { ReplayReport } from './types.js';

/** What a createProjections runner building the version through a job adds to its pages. */
export interface RebuildHooks {
  /** The failing event the version is stopped at (resolved when it applies), as the runner tracks it. */
  active(): ProjectionFailure | null;
  /** The runner's retry policy for a failing event (attempts before it is parked). */
  retry: RetryOptions;
  /** Called after each page committed, with the events applied to the version. */
  onPage(applied: number): void;
}

/** Attempts of a page that another process building the same version keeps moving. */
const MAX_MOVED = 20;

/** Where the version stands, as the last page of this run left it (saves reading it before each page). */
export interface VersionAt {
  checkpoint: string;
  readSchema: string;
}

/** The events of a page (in commit order) after `checkpoint`. */
function after(events: readonly StoredEvent[], checkpoint: string): readonly StoredEvent[] {
  let i = 0;
  while (i < events.length && compareCheckpoints(events[i]!.checkpoint, checkpoint) <= 0) i++;
  return i === 0 ? events : events.slice(i);
}

/**
 * A rebuild page: the projections' own page transaction (the version's checkpoint moves with its writes; a failing
 * event is recorded as the runner records it) for the events after the version's checkpoint, with the job's
 * progress (`save`, for the page's tally) committed in the same transaction. A createProjections runner may build
 * the same version at the same time: the page transaction fences one of them out (MovedError) and the page is
 * filtered again against the version's new checkpoint. `known` is the version as this run's last page left it;
 * without it the version is read first.
 */
export async function applyRebuildPage(
  env: { db: Driver; q: string },
  def: ProjectionDefinition,
  events: readonly StoredEvent[],
  draft: ReplayReport,
  save: (t: Tally) => PageCommit,
  hooks?: RebuildHooks,
  known?: VersionAt,
): Promise<{ tally: Tally; version: VersionAt }> {
  const already = draft.alreadyApplied;
  let version = known;
  for (let attempt = 0; ; attempt++) {
    if (version === undefined) {
      const row = await readVersion(env.db, env.q, def.name, def.version);
      if (row === undefined) throw new Error(`projection ${def.name} v${def.version} is not registered`);
      version = { checkpoint: row.checkpoint, readSchema: row.read_schema };
    }
    const fresh = after(events, version.checkpoint);
    const tally = { applied: fresh.length, skipped: events.length - fresh.length };
    draft.alreadyApplied = already + tally.skipped;
    const commit = save(tally);
    if (fresh.length === 0) {
      await env.db.transaction((ex) => runPageCommit(ex, commit));
      return { tally, version };
    }
    try {
      const outcome = await applyPage(
        env.db,
        env.q,
        def,
        tableMap(def, version.readSchema, def.version),
        version.checkpoint,
        fresh,
        fresh[fresh.length - 1]!.checkpoint,
        hooks?.active() ?? null,
        hooks?.retry ?? resolveRetry(undefined),
        commit,
      );
      if (outcome.failure !== null) {
        throw new ReplayHandlerFailure(fresh[outcome.applied]!, outcome.error!);
      }
      return { tally, version: { checkpoint: outcome.checkpoint, readSchema: version.readSchema } };
    } catch (error) {
      if (!(error instanceof MovedError) || attempt >= MAX_MOVED) throw error;
      version = undefined;
    }
  }
}
