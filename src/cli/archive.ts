import type { Command } from 'commander';
import { ArchiveBoundError } from '../errors.js';
import { archive, type ArchiveResult } from '../retention/archive.js';
import { print, printJson } from './io.js';
import { withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

interface ArchiveFlags extends CommonOptions {
  before: string;
  to: string;
  closedStreamsOnly?: boolean;
  segmentBytes?: string;
  strict?: boolean;
}

/** `--before`: a checkpoint stays a string, anything else must be an ISO time. */
function before(value: string): string | Date {
  if (/^\d+:\d+$/.test(value)) return value;
  const time = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) {
    throw new ArchiveBoundError(
      `--before ${JSON.stringify(value.slice(0, 100))} is neither a checkpoint (<txOrder>:<globalPosition>) nor an ` +
        'ISO time (2026-11-29T10:00:00Z).',
    );
  }
  return time;
}

/** The text `eventlane archive` prints for a run (without `--json`). */
export function renderArchiveResult(r: ArchiveResult): string {
  const lines = [
    `Archived ${r.exported} events in ${r.segments.length} segments to ${r.dir}; deleted ${r.deleted} from the events table.`,
    r.archivedThrough === null
      ? 'The archive is empty.'
      : `The archive holds ${r.archivedEvents} events, up to ${r.archivedThrough}.`,
  ];
  if (r.resumed.length > 0) lines.push(`Finished ${r.resumed.length} segments of an interrupted run.`);
  if (r.heldBy.length > 0) {
    lines.push(`Asked up to ${r.requested}, archived up to ${r.bound}: held back by`);
    for (const h of r.heldBy) lines.push(`  ${h.kind} ${h.name} at ${h.checkpoint}`);
  }
  if (r.deletionHeldBy.length > 0) {
    lines.push(
      'Verified segments stay in the events table until these have passed them (rerun archive then):',
    );
    for (const h of r.deletionHeldBy) lines.push(`  ${h.kind} ${h.name} at ${h.checkpoint}`);
  }
  return lines.join('\n');
}

/** `eventlane archive`: moves the oldest events to checksummed segments and deletes them from the events table. */
export function registerArchiveCommand(program: Command): void {
  withCommonOptions(program.command('archive'))
    .description(
      'move the events before a time or checkpoint to gzip NDJSON segments in a directory, check them, and delete ' +
        'them from the events table (reads and replays read them through)',
    )
    .requiredOption(
      '--before <time|checkpoint>',
      'archive events recorded before this ISO time, or up to this checkpoint',
    )
    .requiredOption('--to <dir>', 'the archive directory (created when missing; one per store)')
    .option(
      '--closed-streams-only',
      'only closed streams, whole: those whose final event is at or before the bound (open streams stay)',
    )
    .option('--segment-bytes <n>', 'close a segment at this many bytes of NDJSON (default 16777216)')
    .option('--strict', 'refuse when a consumer, relay, projection or replay job holds the bound back')
    .action(async (flags: ArchiveFlags) => {
      const segmentBytes = flags.segmentBytes === undefined ? undefined : Number(flags.segmentBytes);
      await withStore(flags, async (store) => {
        const result = await archive(store, {
          before: before(flags.before),
          to: flags.to,
          ...(flags.closedStreamsOnly ? { closedStreamsOnly: true } : {}),
          ...(segmentBytes === undefined ? {} : { segmentBytes }),
          ...(flags.strict ? { strict: true } : {}),
        });
        if (flags.json) printJson(result);
        else print(renderArchiveResult(result));
      });
    });
}
