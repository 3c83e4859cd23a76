/**
 * What the log holds and how fast it grows: the figures to plan retention by (`eventlane stats`). Every figure is
 * computed from the events table when asked (full scans: an operator's question, not a hot path).
 */
import { describeValue, InvalidArgumentError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';

/** How many days the growth rate looks back. */
export const GROWTH_DAYS = 30;

export interface LogStats {
  schema: string;
  generatedAt: Date;
  events: number;
  streams: number;
  /** Events per type, most first. */
  byType: { type: string; events: number }[];
  /**
   * Events and streams per stream prefix: the stream name up to its first `-` or `:` (`order-42` → `order`,
   * `user:7` → `user`; a name with neither is its own prefix), most events first.
   */
  byStreamPrefix: { prefix: string; events: number; streams: number }[];
  /** Events per calendar month (UTC) of recording, oldest first: `2026-11`. */
  byMonth: { month: string; events: number }[];
  /** Events recorded in the last GROWTH_DAYS days and their average per day. */
  growth: { days: number; events: number; eventsPerDay: number };
  /** Bytes on disk of the events table: its heap (with TOAST) and its indexes. */
  size: { tableBytes: number; indexBytes: number; totalBytes: number };
  /** With `before`: what an archive run that takes every event recorded before then would free (an estimate). */
  archivable?: { before: Date; events: number; streams: number; estimatedBytes: number };
}

export interface LogStatsOptions {
  /** Estimate what archiving the events recorded before this time would free. */
  before?: Date;
  /** At most this many rows in each breakdown (the largest). @defaultValue 50 */
  top?: number;
}

const PREFIX_SQL = `substring(stream from '^[^-:]*')`;

export async function readLogStats(store: EventStore, options: LogStatsOptions = {}): Promise<LogStats> {
  const { before } = options;
  if (before !== undefined && (!(before instanceof Date) || Number.isNaN(before.getTime()))) {
    throw new InvalidArgumentError(
      `before must be a valid time (e.g. 2026-01-01T00:00:00Z), got ${describeValue(before)}.`,
    );
  }
  const top = options.top ?? 50;
  if (!Number.isSafeInteger(top) || top < 1 || top > 10_000) {
    throw new InvalidArgumentError(`top must be a whole number from 1 to 10000, got ${describeValue(top)}.`);
  }
  const q = quoteIdent(store.schema);
  const ex = store.executor;
  const n = (v: unknown): number => Number(v ?? 0);
  const [totals] = await ex.query<{ events: string; streams: string; recent: string }>(
    `select count(*)::text as events, count(distinct stream)::text as streams,
            count(*) filter (where recorded_at >= now() - make_interval(days => $1))::text as recent
       from ${q}.events`,
    [GROWTH_DAYS],
  );
  const byType = await ex.query<{ type: string; events: string }>(
    `select type, count(*)::text as events from ${q}.events group by type order by count(*) desc, type limit $1`,
    [top],
  );
  const byPrefix = await ex.query<{ prefix: string; events: string; streams: string }>(
    `select ${PREFIX_SQL} as prefix, count(*)::text as events, count(distinct stream)::text as streams
       from ${q}.events group by 1 order by count(*) desc, 1 limit $1`,
    [top],
  );
  const byMonth = await ex.query<{ month: string; events: string }>(
    `select to_char(recorded_at at time zone 'UTC', 'YYYY-MM') as month, count(*)::text as events
       from ${q}.events group by 1 order by 1`,
  );
  const [size] = await ex.query<{ table_bytes: string; index_bytes: string; total_bytes: string }>(
    `select (pg_total_relation_size(c.oid) - pg_indexes_size(c.oid))::text as table_bytes,
            pg_indexes_size(c.oid)::text as index_bytes, pg_total_relation_size(c.oid)::text as total_bytes
       from pg_class c join pg_namespace s on s.oid = c.relnamespace
      where s.nspname = $1 and c.relname = 'events'`,
    [store.schema],
  );
  const events = n(totals?.events);
  const stats: LogStats = {
    schema: store.schema,
    generatedAt: new Date(),
    events,
    streams: n(totals?.streams),
    byType: byType.map((r) => ({ type: r.type, events: n(r.events) })),
    byStreamPrefix: byPrefix.map((r) => ({ prefix: r.prefix, events: n(r.events), streams: n(r.streams) })),
    byMonth: byMonth.map((r) => ({ month: r.month, events: n(r.events) })),
    growth: {
      days: GROWTH_DAYS,
      events: n(totals?.recent),
      eventsPerDay: Math.round((n(totals?.recent) / GROWTH_DAYS) * 100) / 100,
    },
    size: {
      tableBytes: n(size?.table_bytes),
      indexBytes: n(size?.index_bytes),
      totalBytes: n(size?.total_bytes),
    },
  };
  if (before !== undefined) {
    // The rows' own bytes, plus their share of the indexes (by count); dead space is freed by VACUUM, not at once.
    const [old] = await ex.query<{ events: string; streams: string; row_bytes: string }>(
      `select count(*)::text as events, count(distinct stream)::text as streams,
              coalesce(sum(pg_column_size(e.*)), 0)::text as row_bytes
         from ${q}.events e where recorded_at < $1`,
      [before],
    );
    const oldEvents = n(old?.events);
    const indexShare = events === 0 ? 0 : (stats.size.indexBytes * oldEvents) / events;
    stats.archivable = {
      before,
      events: oldEvents,
      streams: n(old?.streams),
      estimatedBytes: Math.round(n(old?.row_bytes) + indexShare),
    };
  }
  return stats;
}
