/** The archive_segments rows as an archive run sees them, and what the run's steps share. */

import type { SqlExecutor } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, LOG_START } from '../store/names.js';
import type { SegmentScope } from './table-range.js';
import type { ArchiveLease } from './lease.js';
import type { CheckedArchiveOptions } from './options.js';
import { removeFile, type SegmentRef } from './segment.js';
import { join } from 'node:path';

export interface SegmentRow extends SegmentRef {
  state: 'exported' | 'verified' | 'deleted';
  scope: SegmentScope;
}

export interface Ctx {
  db: EventStore;
  ex: SqlExecutor;
  q: string;
  o: CheckedArchiveOptions;
  lease: ArchiveLease;
  store: { id: string; schema: string };
}

export async function segmentRows(ex: SqlExecutor, q: string): Promise<SegmentRow[]> {
  const rows = await ex.query<{
    seq: number;
    file: string;
    first: string;
    last: string;
    events: string;
    sha256: string;
    state: SegmentRow['state'];
    scope: SegmentScope;
  }>(
    `select seq, file, first_tx::text || ':' || first_gp as first, last_tx::text || ':' || last_gp as last,
            events::text as events, sha256, state, scope
       from ${q}.archive_segments order by seq`,
  );
  return rows.map((r) => ({ ...r, seq: Number(r.seq), events: Number(r.events) }));
}

/** The end of the last segment that holds every event of its range (LOG_START when there is none). */
export function logEnd(rows: readonly SegmentRow[]): string {
  let end = LOG_START;
  for (const r of rows) if (r.scope === 'log' && compareCheckpoints(r.last, end) > 0) end = r.last;
  return end;
}

/** Drops the not-yet-deleted segments from `seq` on (their events are all still in the table) and their files. */
export async function rollBackFrom(ctx: Ctx, seq: number): Promise<void> {
  const gone = await ctx.ex.query<{ file: string }>(
    `delete from ${ctx.q}.archive_segments where seq >= $1 and state <> 'deleted' returning file`,
    [seq],
  );
  for (const g of gone) await removeFile(join(ctx.o.dir, g.file));
}
