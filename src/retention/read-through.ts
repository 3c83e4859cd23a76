/**
 * Read-through: the store's LogArchive. Reads of the log, of replay ranges and of streams that start before the
 * first event left in the events table continue here, in the archive segments, with the same events readLog
 * returned before they were archived. Where closed-streams segments left open streams' events in the table, the
 * two are merged in commit order up to the deleted checkpoint. Each segment is checked (SHA-256, count, range) when
 * it is opened; the last two opened stay in memory, so a reader paging through a segment opens it once.
 */

import { ArchiveTargetError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import type {
  ArchivedStream,
  ArchiveExecutor,
  ArchivePage,
  ArchiveRange,
  LogArchive,
} from '../store/log-archive.js';
import { compareCheckpoints, parseCheckpoint } from '../store/names.js';
import { openSegment, type SegmentRef } from './segment.js';
import { readTableRange } from './table-range.js';

/** Segments kept decoded in memory per store (each up to `segmentBytes` of JSON, 16 MiB by default). */
const CACHED_SEGMENTS = 2;

interface SegmentRow {
  seq: number;
  file: string;
  first: string;
  last: string;
  events: string;
  sha256: string;
  type_counts: Record<string, number>;
  state: 'verified' | 'deleted';
  scope: 'log' | 'closed-streams';
}

const SEGMENT_COLUMNS = `seq, file, first_tx::text || ':' || first_gp as first, last_tx::text || ':' || last_gp as last,
  events::text as events, sha256, type_counts, state, scope`;

type Ref = SegmentRef & {
  typeCounts: Record<string, number>;
  state: SegmentRow['state'];
  scope: SegmentRow['scope'];
};

function toRef(row: SegmentRow): Ref {
  return {
    state: row.state,
    scope: row.scope,
    seq: Number(row.seq),
    file: row.file,
    first: row.first,
    last: row.last,
    events: Number(row.events),
    sha256: row.sha256,
    typeCounts: row.type_counts,
  };
}

/** The first index in `events` (commit order) whose checkpoint is after `after`. */
function firstAfter(events: readonly StoredEvent[], after: string): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareCheckpoints(events[mid]!.checkpoint, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function matcher(range: ArchiveRange): (e: StoredEvent) => boolean {
  const types = range.types === null ? null : new Set(range.types);
  const prefix = range.streamPrefix;
  return (e) => (types === null || types.has(e.type)) && (prefix === null || e.stream.startsWith(prefix));
}

/** The checkpoints of those of `events` still in the events table. */
async function stillInTable(ex: ArchiveExecutor, q: string, events: StoredEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = await ex.query<{ c: string }>(
    `select tx_order::text || ':' || global_position as c from ${q}.events where global_position = any($1::bigint[])`,
    [events.map((e) => e.globalPosition.toString())],
  );
  return new Set(rows.map((r) => r.c));
}

/**
 * The archive of the store in `schemaQ`. `dir` overrides the directory recorded by the archive runs (for a host
 * that mounts the archive elsewhere).
 */
export function createLogArchive(schemaQ: string, dir?: string): LogArchive {
  return new LogArchiveImpl(schemaQ, dir);
}

class LogArchiveImpl implements LogArchive {
  readonly #cache = new Map<string, StoredEvent[]>();

  constructor(
    readonly q: string,
    readonly dirOverride: string | undefined,
  ) {}

  async #state(ex: ArchiveExecutor): Promise<{ dir: string | null; deleted: string }> {
    const [row] = await ex.query<{ dir: string | null; deleted: string }>(
      `select dir, deleted_tx::text || ':' || deleted_gp as deleted from ${this.q}.archive_state`,
    );
    return { dir: row?.dir ?? null, deleted: row?.deleted ?? '0:0' };
  }

  async #dir(ex: ArchiveExecutor): Promise<string> {
    if (this.dirOverride !== undefined) return this.dirOverride;
    const { dir } = await this.#state(ex);
    if (dir === null) {
      throw new ArchiveTargetError(
        'This store has archived events but no archive directory is recorded. Pass `archive: { dir }` to ' +
          'createEventStore.',
      );
    }
    return dir;
  }

  async #segmentsAfter(ex: ArchiveExecutor, after: string, to: string | null): Promise<Ref[]> {
    const a = parseCheckpoint(after);
    const t = to === null ? null : parseCheckpoint(to);
    const rows = await ex.query<SegmentRow>(
      `select ${SEGMENT_COLUMNS} from ${this.q}.archive_segments
        where state in ('verified', 'deleted') and (last_tx, last_gp) > ($1::text::xid8, $2::bigint)
          and ($3::text is null or (first_tx, first_gp) <= ($3::text::xid8, $4::bigint))
        order by seq`,
      [
        a.txOrder.toString(),
        a.globalPosition.toString(),
        t?.txOrder.toString() ?? null,
        t?.globalPosition.toString() ?? null,
      ],
    );
    return rows.map(toRef);
  }

  async #open(dir: string, ref: SegmentRef): Promise<StoredEvent[]> {
    const key = `${dir}\u0000${ref.file}\u0000${ref.sha256}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const events = await openSegment(dir, ref);
    this.#cache.set(key, events);
    while (this.#cache.size > CACHED_SEGMENTS) this.#cache.delete(this.#cache.keys().next().value!);
    return events;
  }

  async read(ex: ArchiveExecutor, range: ArchiveRange, limit: number): Promise<ArchivePage | null> {
    const segments = await this.#segmentsAfter(ex, range.after, range.to);
    if (segments.length === 0) return null;
    if (segments.some((g) => g.scope === 'closed-streams'))
      return this.#readMerged(ex, range, limit, segments);
    const dir = await this.#dir(ex);
    const matches = matcher(range);
    const out: StoredEvent[] = [];
    for (const ref of segments) {
      const events = await this.#open(dir, ref);
      for (let i = firstAfter(events, range.after); i < events.length; i++) {
        const e = events[i]!;
        if (range.to !== null && compareCheckpoints(e.checkpoint, range.to) > 0) {
          return { events: out, checkpoint: out.length > 0 ? out[out.length - 1]!.checkpoint : range.to };
        }
        if (!matches(e)) continue;
        out.push({ ...e });
        if (out.length === limit) return { events: out, checkpoint: e.checkpoint };
      }
    }
    return { events: out, checkpoint: segments[segments.length - 1]!.last };
  }

  /**
   * A range where closed-streams segments left the open streams' events in the table: up to the deleted checkpoint
   * (where the table's readers stop), the events of the segments and those still in the table, merged in commit
   * order. Each source gives at most `limit` events; segments are opened in order of their first event, and only
   * while they can still hold one of the first `limit`.
   */
  async #readMerged(
    ex: ArchiveExecutor,
    range: ArchiveRange,
    limit: number,
    segments: Ref[],
  ): Promise<ArchivePage | null> {
    const { deleted } = await this.#state(ex);
    const end = range.to !== null && compareCheckpoints(range.to, deleted) < 0 ? range.to : deleted;
    if (compareCheckpoints(range.after, end) >= 0) return null;
    const byCheckpoint = new Map<string, StoredEvent>();
    const inTable = await readTableRange(
      ex,
      this.q,
      { after: range.after, until: end, types: range.types, streamPrefix: range.streamPrefix },
      limit,
    );
    for (const e of inTable) byCheckpoint.set(e.checkpoint, e);
    const dir = await this.#dir(ex);
    const matches = matcher(range);
    const ordered = segments
      .filter((g) => compareCheckpoints(g.first, end) <= 0)
      .sort((a, b) => compareCheckpoints(a.first, b.first));
    let found: StoredEvent[] = [...byCheckpoint.values()];
    for (const ref of ordered) {
      if (found.length >= limit) {
        found.sort((a, b) => compareCheckpoints(a.checkpoint, b.checkpoint));
        found = found.slice(0, limit);
        if (compareCheckpoints(ref.first, found[limit - 1]!.checkpoint) > 0) break;
      }
      const events = await this.#open(dir, ref);
      let taken = 0;
      for (let i = firstAfter(events, range.after); i < events.length && taken < limit; i++) {
        const e = events[i]!;
        if (compareCheckpoints(e.checkpoint, end) > 0) break;
        if (!matches(e) || byCheckpoint.has(e.checkpoint)) continue;
        const copy = { ...e };
        byCheckpoint.set(e.checkpoint, copy);
        found.push(copy);
        taken++;
      }
    }
    found.sort((a, b) => compareCheckpoints(a.checkpoint, b.checkpoint));
    if (found.length >= limit) {
      const page = found.slice(0, limit);
      return { events: page, checkpoint: page[limit - 1]!.checkpoint };
    }
    return { events: found, checkpoint: end };
  }

  async count(ex: ArchiveExecutor, range: ArchiveRange): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const { deleted } = await this.#state(ex);
    if (compareCheckpoints(deleted, range.after) <= 0) return counts;
    const end = range.to !== null && compareCheckpoints(range.to, deleted) < 0 ? range.to : deleted;
    const segments = await this.#segmentsAfter(ex, range.after, end);
    if (segments.length === 0) return counts;
    const add = (type: string, n: number): void => {
      if (range.types === null || range.types.includes(type)) counts.set(type, (counts.get(type) ?? 0) + n);
    };
    let dir: string | undefined;
    const matches = matcher(range);
    for (const ref of segments) {
      const whole = compareCheckpoints(ref.first, range.after) > 0 && compareCheckpoints(ref.last, end) <= 0;
      if (whole && range.streamPrefix === null && ref.state === 'deleted') {
        for (const [type, n] of Object.entries(ref.typeCounts)) add(type, n);
        continue;
      }
      dir ??= await this.#dir(ex);
      const events = await this.#open(dir, ref);
      const inRange: StoredEvent[] = [];
      for (let i = firstAfter(events, range.after); i < events.length; i++) {
        const e = events[i]!;
        if (compareCheckpoints(e.checkpoint, end) > 0) break;
        if (matches(e)) inRange.push(e);
      }
      // A segment whose deletion has not finished: only what already left the table counts here.
      const kept = ref.state === 'deleted' ? new Set<string>() : await stillInTable(ex, this.q, inRange);
      for (const e of inRange) if (!kept.has(e.checkpoint)) add(e.type, 1);
    }
    return counts;
  }

  async stream(ex: ArchiveExecutor, stream: string): Promise<ArchivedStream | null> {
    const [row] = await ex.query<{ through: string; files: string[] }>(
      `select s.archived_through::text as through, array_agg(g.file order by g.seq) as files
         from ${this.q}.archived_streams s
         join ${this.q}.archive_segments g on g.seq between s.first_seq and s.last_seq
        where s.stream = $1
        group by s.archived_through`,
      [stream],
      { prepare: true },
    );
    return row === undefined ? null : { archivedThrough: Number(row.through), segments: row.files };
  }

  async readStream(ex: ArchiveExecutor, stream: string, from: number, to: number): Promise<StoredEvent[]> {
    const rows = await ex.query<SegmentRow>(
      `select ${SEGMENT_COLUMNS} from ${this.q}.archive_segments g
         join ${this.q}.archived_streams s on g.seq between s.first_seq and s.last_seq
        where s.stream = $1 order by g.seq`,
      [stream],
    );
    if (rows.length === 0) return [];
    const dir = await this.#dir(ex);
    const out: StoredEvent[] = [];
    for (const ref of rows.map(toRef)) {
      for (const e of await this.#open(dir, ref)) {
        if (e.stream === stream && e.streamPosition >= from && e.streamPosition <= to) out.push({ ...e });
      }
    }
    return out.sort((a, b) => a.streamPosition - b.streamPosition);
  }

  async end(ex: ArchiveExecutor): Promise<string | null> {
    const [row] = await ex.query<{ last: string }>(
      `select last_tx::text || ':' || last_gp as last from ${this.q}.archive_segments
        where state in ('verified', 'deleted') order by last_tx desc, last_gp desc limit 1`,
    );
    return row?.last ?? null;
  }
}
