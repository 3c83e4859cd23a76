/**
 * Archive segments: gzip NDJSON files of events in commit order, one JSON line per event as readLog returns it
 * (bigint and dates as text), named by their sequence number and checkpoint range. Written crash-safely (temp
 * file, fsync, rename, fsync of the directory) and checked on every open (SHA-256 of the file, event count, range).
 */

import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { ArchiveSegmentError } from '../errors.js';
import type { EventMetadata, StoredEvent } from '../events/envelope.js';
import type { JsonValue } from '../events/json.js';
import { compareCheckpoints, parseCheckpoint } from '../store/names.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** The version of the segment and manifest format; readers refuse a newer one. */
export const ARCHIVE_FORMAT_VERSION = 1;

/** A segment file's name: `seg-000001-<firstTx>.<firstGp>-<lastTx>.<lastGp>.ndjson.gz` (no `:` in file names). */
export function segmentFileName(seq: number, first: string, last: string): string {
  const part = (c: string): string => c.replace(':', '.');
  return `seg-${String(seq).padStart(6, '0')}-${part(first)}-${part(last)}.ndjson.gz`;
}

/** Matches the names segmentFileName makes, and the temp files written before the rename. */
export const SEGMENT_FILE = /^seg-\d{6,}-\d+\.\d+-\d+\.\d+\.ndjson\.gz(\.tmp-\d+)?$/;

interface EventLine {
  id: string;
  type: string;
  version: number;
  stream: string;
  streamPosition: number;
  globalPosition: string;
  checkpoint: string;
  data: JsonValue;
  metadata: EventMetadata;
  occurredAt: string;
  recordedAt: string;
}

export function encodeEvent(e: StoredEvent): string {
  const line: EventLine = {
    id: e.id,
    type: e.type,
    version: e.version,
    stream: e.stream,
    streamPosition: e.streamPosition,
    globalPosition: e.globalPosition.toString(),
    checkpoint: e.checkpoint,
    data: e.data,
    metadata: e.metadata,
    occurredAt: e.occurredAt.toISOString(),
    recordedAt: e.recordedAt.toISOString(),
  };
  return JSON.stringify(line);
}

export function decodeEvent(line: string): StoredEvent {
  const l = JSON.parse(line) as EventLine;
  return {
    id: l.id,
    type: l.type,
    version: l.version,
    stream: l.stream,
    streamPosition: l.streamPosition,
    globalPosition: BigInt(l.globalPosition),
    checkpoint: l.checkpoint,
    data: l.data,
    metadata: l.metadata,
    occurredAt: new Date(l.occurredAt),
    recordedAt: new Date(l.recordedAt),
  };
}

export interface SegmentRef {
  seq: number;
  file: string;
  first: string;
  last: string;
  events: number;
  sha256: string;
}

export interface WrittenSegment {
  bytes: number;
  sha256: string;
}

/** fsync of a directory, so a rename in it survives a crash of the machine. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `content` to `dir/name` atomically: a temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(dir: string, name: string, content: Buffer | string): Promise<void> {
  const temp = join(dir, `${name}.tmp-${process.pid}`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, name));
  await syncDir(dir);
}

/** Compresses the lines into a segment file; resolves to its size and SHA-256. */
export async function writeSegment(
  dir: string,
  name: string,
  lines: readonly string[],
): Promise<WrittenSegment> {
  const gz = await gzip(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
  await writeFileAtomic(dir, name, gz);
  return { bytes: gz.length, sha256: createHash('sha256').update(gz).digest('hex') };
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Reads a segment back and checks it: the file's SHA-256, that it decompresses, that every line parses, the event
 * count, that the events are in commit order and that the first and last are the range its name says. Any
 * mismatch is an ArchiveSegmentError naming the file.
 */
export async function openSegment(dir: string, ref: SegmentRef): Promise<StoredEvent[]> {
  let raw: Buffer;
  try {
    raw = await readFile(join(dir, ref.file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ArchiveSegmentError(
      ref.file,
      code === 'ENOENT' ? `is missing from ${dir}` : `cannot be read in ${dir} (${code ?? 'error'})`,
      error,
    );
  }
  const sha = createHash('sha256').update(raw).digest('hex');
  if (sha !== ref.sha256) {
    throw new ArchiveSegmentError(
      ref.file,
      `does not match its SHA-256 checksum (recorded ${ref.sha256.slice(0, 16)}…, file ${sha.slice(0, 16)}…): it is corrupted`,
    );
  }
  let text: string;
  try {
    text = (await gunzip(raw)).toString('utf8');
  } catch (error) {
    throw new ArchiveSegmentError(ref.file, 'cannot be decompressed', error);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== ref.events) {
    throw new ArchiveSegmentError(ref.file, `holds ${lines.length} events, ${ref.events} were written`);
  }
  const events: StoredEvent[] = new Array<StoredEvent>(lines.length);
  let previous = '0:0';
  for (let i = 0; i < lines.length; i++) {
    let event: StoredEvent;
    try {
      event = decodeEvent(lines[i]!);
      parseCheckpoint(event.checkpoint);
    } catch (error) {
      throw new ArchiveSegmentError(ref.file, `has an unreadable event on line ${i + 1}`, error);
    }
    if (compareCheckpoints(event.checkpoint, previous) <= 0) {
      throw new ArchiveSegmentError(ref.file, `is out of commit order on line ${i + 1}`);
    }
    previous = event.checkpoint;
    events[i] = event;
  }
  if (events[0]?.checkpoint !== ref.first || events[events.length - 1]?.checkpoint !== ref.last) {
    throw new ArchiveSegmentError(ref.file, `does not hold the range ${ref.first} to ${ref.last}`);
  }
  return events;
}
