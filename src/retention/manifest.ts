/**
 * The archive directory: who it belongs to and what it holds. `manifest.json` names the store (its id and schema),
 * the format version, and every checked segment with its range, count and SHA-256; it is rewritten from the
 * database after every step of a run, atomically (temp file, fsync, rename).
 */

import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ArchiveTargetError } from '../errors.js';
import { compareCheckpoints } from '../store/names.js';
import type { SqlExecutor } from '../store/drivers/driver.js';
import { ARCHIVE_FORMAT_VERSION, removeFile, SEGMENT_FILE, writeFileAtomic } from './segment.js';

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestSegment {
  seq: number;
  file: string;
  first: string;
  last: string;
  events: number;
  bytes: number;
  sha256: string;
  typeCounts: Record<string, number>;
  /** True once the segment's events were deleted from the events table. */
  deletedFromStore: boolean;
  /**
   * 'log': every event of the range; 'closed-streams': only the events of the closed streams in it (the others stay
   * in the events table, or are in a later 'log' segment whose range covers this one's).
   */
  scope: 'log' | 'closed-streams';
}

export interface Manifest {
  formatVersion: number;
  store: { id: string; schema: string };
  /**
   * The archived range in commit order: from the start of the log to `last` (null while empty); every event of it
   * when all segments are 'log' ones, else the closed streams' events of its part past the last 'log' segment.
   */
  range: { first: string | null; last: string | null };
  events: number;
  segments: ManifestSegment[];
  updatedAt: string;
}

export async function readStoreId(ex: SqlExecutor, q: string): Promise<string> {
  const [row] = await ex.query<{ value: unknown }>(`select value from ${q}.settings where key = 'store_id'`);
  if (typeof row?.value !== 'string') {
    throw new ArchiveTargetError('The store has no id yet: run `eventlane migrate` (migration 0009) first.');
  }
  return row.value;
}

/**
 * Makes sure `dir` can hold this store's archive: it is (or can be made) a writable directory, and any manifest in
 * it is this store's, in a format this version reads. Returns the manifest found, if any.
 */
export async function checkTarget(dir: string, storeId: string): Promise<Manifest | null> {
  try {
    await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory())
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, fsConstants.W_OK | fsConstants.R_OK | fsConstants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ArchiveTargetError(
      `Cannot use ${dir} as the archive directory (${code}): give a directory this process can create and write.`,
      { dir, reason: code },
      error,
    );
  }
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      const strays = (await readdir(dir)).filter((f) => SEGMENT_FILE.test(f) && !f.includes('.tmp-'));
      if (strays.length > 0) {
        throw new ArchiveTargetError(
          `${dir} holds archive segments (${strays[0]}, …) but no ${MANIFEST_FILE}: they may be another store's. ` +
            'Archive to an empty directory.',
          { dir },
        );
      }
      return null;
    }
    throw new ArchiveTargetError(`Cannot read ${join(dir, MANIFEST_FILE)}.`, { dir }, error);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (error) {
    throw new ArchiveTargetError(
      `${join(dir, MANIFEST_FILE)} is not valid JSON: this is not an eventlane archive directory, or it was damaged.`,
      { dir },
      error,
    );
  }
  if (manifest?.store?.id !== storeId) {
    throw new ArchiveTargetError(
      `${dir} holds the archive of another store (id ${String(manifest?.store?.id).slice(0, 40)}, schema ` +
        `${String(manifest?.store?.schema).slice(0, 70)}); this store's id is ${storeId}. Archive to another directory.`,
      { dir, manifestStore: manifest?.store?.id, store: storeId },
    );
  }
  if (typeof manifest.formatVersion !== 'number' || manifest.formatVersion > ARCHIVE_FORMAT_VERSION) {
    throw new ArchiveTargetError(
      `${dir} holds an archive in format ${String(manifest.formatVersion)}; this version of eventlane writes ` +
        `format ${ARCHIVE_FORMAT_VERSION}. Upgrade eventlane.`,
      { dir },
    );
  }
  return manifest;
}

interface SegmentRow {
  seq: number;
  file: string;
  first: string;
  last: string;
  events: string;
  bytes: string;
  sha256: string;
  type_counts: Record<string, number>;
  state: string;
  scope: 'log' | 'closed-streams';
}

/** Rewrites the manifest from the database: the segments that were checked (verified or deleted). */
export async function writeManifest(
  ex: SqlExecutor,
  q: string,
  dir: string,
  store: { id: string; schema: string },
): Promise<Manifest> {
  const rows = await ex.query<SegmentRow>(
    `select seq, file, first_tx::text || ':' || first_gp as first, last_tx::text || ':' || last_gp as last,
            events::text as events, bytes::text as bytes, sha256, type_counts, state, scope
       from ${q}.archive_segments where state in ('verified', 'deleted') order by seq`,
  );
  const segments = rows.map((r) => ({
    seq: Number(r.seq),
    file: r.file,
    first: r.first,
    last: r.last,
    events: Number(r.events),
    bytes: Number(r.bytes),
    sha256: r.sha256,
    typeCounts: r.type_counts,
    deletedFromStore: r.state === 'deleted',
    scope: r.scope,
  }));
  const manifest: Manifest = {
    formatVersion: ARCHIVE_FORMAT_VERSION,
    store,
    range: {
      first: segments.reduce<string | null>(
        (m, g) => (m === null || compareCheckpoints(g.first, m) < 0 ? g.first : m),
        null,
      ),
      last: segments.reduce<string | null>(
        (m, g) => (m === null || compareCheckpoints(g.last, m) > 0 ? g.last : m),
        null,
      ),
    },
    events: segments.reduce((n, s) => n + s.events, 0),
    segments,
    updatedAt: new Date().toISOString(),
  };
  await writeFileAtomic(dir, MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Removes segment files (and temp files) the database does not know: left by a run that crashed before recording them. */
export async function removeStrays(dir: string, known: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const f of await readdir(dir)) {
    if (SEGMENT_FILE.test(f) && !known.has(f)) {
      await removeFile(join(dir, f));
      removed.push(f);
    }
  }
  return removed;
}
