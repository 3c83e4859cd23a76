import type { StoredEvent } from '../events/envelope.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import type { LogArchive } from '../store/log-archive.js';
import { compareCheckpoints, parseCheckpoint as parse } from '../store/names.js';
import { EVENT_COLUMNS, notArchivedSql, toStoredEvent, type EventRow } from '../store/read.js';

/** Which events of the log a replay covers: after `after`, up to and including `to` (null: no end), filtered. */
export interface RangeQuery {
  after: string;
  to: string | null;
  /** Only these event types; null for every type. */
  types: readonly string[] | null;
  /** Only streams whose name starts with this; null for every stream. */
  streamPrefix: string | null;
  limit: number;
}

/**
 * The WHERE clause shared by page reads and counts. Values are parameters ($1 … $5 as `rangeParams` builds them);
 * the stream prefix is compared with `left()`, so '%' and '_' in it are plain characters.
 */
const RANGE_WHERE = `(e.tx_order, e.global_position) > ($1::text::xid8, $2::bigint)
        and ($3::text is null or (e.tx_order, e.global_position) <= ($3::text::xid8, $4::bigint))
        and ($5::text is null or left(e.stream, length($5::text)) = $5::text)`;

function rangeParams(r: Omit<RangeQuery, 'limit' | 'types'>): unknown[] {
  const after = parse(r.after);
  const to = r.to === null ? null : parse(r.to);
  return [
    after.txOrder.toString(),
    after.globalPosition.toString(),
    to === null ? null : to.txOrder.toString(),
    to === null ? null : to.globalPosition.toString(),
    r.streamPrefix,
  ];
}

/**
 * The SQL of one page. Without a type filter it is the log read (index on commit order). With one, each type is
 * read through the (type, tx_order, global_position) index with its own LIMIT and the results merged: a sparse type
 * costs index entries of that type only, however many events of other types lie between them.
 */
export function rangePageSql(q: string, filtered: boolean): string {
  const readable = `e.tx_order < (select pg_snapshot_xmin(pg_current_snapshot())) and ${notArchivedSql(q)}`;
  if (!filtered) {
    return `select ${EVENT_COLUMNS} from ${q}.events e
      where ${RANGE_WHERE} and ${readable}
      order by e.tx_order, e.global_position limit $6`;
  }
  return `select x.* from unnest($7::text[]) as t(wanted)
      cross join lateral (
        select ${EVENT_COLUMNS}, e.tx_order as sort_tx
          from ${q}.events e
         where e.type = t.wanted and ${RANGE_WHERE} and ${readable}
         order by e.tx_order, e.global_position limit $6) x
      order by x.sort_tx, x.global_position limit $6`;
}

export function rangePageParams(r: RangeQuery): unknown[] {
  const params = [...rangeParams(r), r.limit];
  if (r.types !== null) params.push(r.types);
  return params;
}

/**
 * Reads one page of the range in commit order; only events a log reader may see now (see readLog). A range that
 * starts before the first event left in the events table is read from the archive (`archive`) first.
 */
export async function readRangePage(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  r: RangeQuery,
  upcast?: (event: StoredEvent) => StoredEvent,
  reveal?: (events: StoredEvent[]) => Promise<StoredEvent[]>,
  archive?: LogArchive,
): Promise<StoredEvent[]> {
  const rows = await ex.query<EventRow>(rangePageSql(q, r.types !== null), rangePageParams(r));
  // Personal fields are decrypted (or erased for forgotten subjects) before upcasting, as on every read.
  const finish = async (read: StoredEvent[]): Promise<StoredEvent[]> => {
    const events = reveal === undefined ? read : await reveal(read);
    return upcast === undefined ? events : events.map(upcast);
  };
  if (rows.length === 0 && archive !== undefined) {
    const page = await archive.read(ex, r, r.limit);
    if (page !== null && page.events.length > 0) return finish(page.events);
    // The rest of the archive holds nothing of the range: go on in the table after its end.
    if (page !== null && (r.to === null || compareCheckpoints(page.checkpoint, r.to) < 0)) {
      return readRangePage(ex, q, { ...r, after: page.checkpoint }, upcast, reveal, archive);
    }
  }
  return finish(rows.map(toStoredEvent));
}

/** Events in the range by type (committed ones, whether readable yet or not). */
export async function countRange(
  ex: Pick<SqlExecutor, 'query'>,
  q: string,
  r: Omit<RangeQuery, 'limit'>,
  archive?: LogArchive,
): Promise<Map<string, number>> {
  const rows = await ex.query<{ type: string; n: string }>(
    `select e.type, count(*)::text as n from ${q}.events e
      where ${RANGE_WHERE} and ($6::text[] is null or e.type = any($6::text[]))
      group by e.type order by e.type`,
    [...rangeParams(r), r.types],
  );
  const counts = new Map(rows.map((row) => [row.type, Number(row.n)]));
  if (archive !== undefined) {
    for (const [type, n] of await archive.count(ex, r)) counts.set(type, (counts.get(type) ?? 0) + n);
  }
  return counts;
}
