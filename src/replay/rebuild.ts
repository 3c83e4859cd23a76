import type { RetryOptions } from '../consumers/backoff.js';
import type { ProjectionDefinition } from '../consumers/define.js';
import { resolveRetry } from '../consumers/options.js';
import type { StoredEvent } from '../events/envelope.js';
import { applyPage, MovedError } from '../projections/failures.js';
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

/**
 * A rebuild page: the projections' own page transaction (the version's checkpoint moves with its writes; a failing
 * event is recorded as the runner records it) for the events after the version's checkpoint. A createProjections
 * runner may build the same version at the same time: the page transaction fences one of them out (MovedError)
 * and the page is filtered again against the version's new checkpoint.
 */
export async function applyRebuildPage(
  env: { db: Driver; q: string },
  def: ProjectionDefinition,
  events: readonly StoredEvent[],
  draft: ReplayReport,
  hooks?: RebuildHooks,
): Promise<Tally> {
  let applied = 0;
  let fresh: StoredEvent[] = [];
  for (let attempt = 0; ; attempt++) {
    const row = await readVersion(env.db, env.q, def.name, def.version);
    if (row === undefined) throw new Error(`projection ${def.name} v${def.version} is not registered`);
    fresh = events.filter((e) => compareCheckpoints(e.checkpoint, row.checkpoint) > 0);
    if (fresh.length === 0) break;
    try {
      const outcome = await applyPage(
        env.db,
        env.q,
        def,
        tableMap(def, row.read_schema, def.version),
        row.checkpoint,
        fresh,
        fresh[fresh.length - 1]!.checkpoint,
        hooks?.active() ?? null,
        hooks?.retry ?? resolveRetry(undefined),
      );
      applied = outcome.applied;
      if (outcome.failure !== null) throw new ReplayHandlerFailure(fresh[applied]!, outcome.error!);
      break;
    } catch (error) {
      if (!(error instanceof MovedError) || attempt >= MAX_MOVED) throw error;
    }
  }
  draft.alreadyApplied += events.length - fresh.length;
  return { applied, skipped: events.length - applied };
}
