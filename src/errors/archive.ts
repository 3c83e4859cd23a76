/** Errors of archiving: archive runs, archive directories and segments, and reads of archived history. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

export class ArchiveBoundError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.ARCHIVE_BOUND, message, { details });
  }
}

/** What keeps events in the hot table: a consumer, relay, projection version, replay job or parked event. */
export interface ArchiveHolder {
  kind: 'consumer' | 'relay' | 'projection' | 'replay-job' | 'parked-event' | 'relay-parked-event';
  /** The consumer, relay, `projection@version`, or job id. */
  name: string;
  /** The checkpoint it has passed: events after it must stay in the events table. */
  checkpoint: string;
}

export class ArchiveHeldBackError extends EventlaneError {
  constructor(wanted: string, possible: string, holders: readonly ArchiveHolder[]) {
    const names = holders.map((h) => `${h.kind} ${h.name} (at ${h.checkpoint})`).join(', ');
    super(
      ErrorCodes.ARCHIVE_HELD_BACK,
      `Archiving up to ${wanted} would delete events that ${names} has not passed yet` +
        (possible === '0:0'
          ? '; nothing can be archived now.'
          : `; at most up to ${possible} can be archived.`) +
        ' Let them catch up, or remove the checkpoints of consumers and relays that no longer run. Nothing was deleted.',
      { details: { wanted, possible, holders } },
    );
  }
}

export class ArchiveTargetError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.ARCHIVE_TARGET, message, { details, cause });
  }
}

export class ArchiveSegmentError extends EventlaneError {
  constructor(segment: string, problem: string, cause?: unknown) {
    super(
      ErrorCodes.ARCHIVE_SEGMENT,
      `Archive segment ${segment} ${problem}. Restore the file from a backup of the archive directory; the events ` +
        'it holds are no longer in the events table.',
      { details: { segment, problem }, cause },
    );
  }
}

export class StreamArchivedError extends EventlaneError {
  constructor(stream: string, archivedThrough: number, segments: readonly string[]) {
    super(
      ErrorCodes.STREAM_ARCHIVED,
      `Events 1 to ${archivedThrough} of stream ${JSON.stringify(stream.slice(0, 200))} are in the archive ` +
        `(${segments.slice(0, 3).join(', ')}${segments.length > 3 ? ', …' : ''}), not in the events table. ` +
        "Read them through with readStream(stream, { archived: 'read' }), or start at from: " +
        `${archivedThrough + 1}.`,
      { details: { stream: stream.slice(0, 200), archivedThrough, segments } },
    );
  }
}
