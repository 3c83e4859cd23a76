import type { Command } from 'commander';
import type { StoredEvent } from '../events/envelope.js';
import { eventJson } from '../ops/browse.js';
import { parseLimit, parsePosition } from '../ops/input.js';
import { MAX_READ_LOG_LIMIT, MAX_READ_STREAM_LIMIT } from '../store/read.js';
import { safe } from './format.js';
import { print, printJson } from './io.js';
import { withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

interface ReadOptions extends CommonOptions {
  after?: string;
  from?: string;
  limit?: string;
  backward?: boolean;
}

function line(e: StoredEvent): string {
  return safe(
    `${e.checkpoint}  ${e.stream}@${e.streamPosition}  ${e.type} v${e.version}  ${e.recordedAt.toISOString()}  ` +
      JSON.stringify(e.data),
  );
}

/** `eventlane read [stream]`: one stream's events, or the log in commit order after a checkpoint. */
export function registerReadCommand(program: Command): void {
  withCommonOptions(program.command('read'))
    .argument('[stream]', 'a stream name; without it, the log in commit order')
    .description('read a stream, or the log from a checkpoint (--after)')
    .option('--after <checkpoint>', 'log: start after this checkpoint (e.g. 1234:56; default: the start)')
    .option('--from <position>', 'stream: first stream position')
    .option('--backward', 'stream: newest first')
    .option('--limit <n>', 'events to print (default 100)')
    .action(async (stream: string | undefined, options: ReadOptions) => {
      await withStore(options, async (store) => {
        if (stream === undefined) {
          const page = await store.readLog({
            after: options.after,
            limit: parseLimit(options.limit, 100, MAX_READ_LOG_LIMIT),
          });
          if (options.json) printJson({ events: page.events.map(eventJson), checkpoint: page.checkpoint });
          else {
            for (const e of page.events) print(line(e));
            print(
              `checkpoint ${page.checkpoint} (${page.events.length} events; continue with --after ${page.checkpoint})`,
            );
          }
          return;
        }
        const events = await store.readStream(stream, {
          from: parsePosition(options.from, 'from'),
          limit: parseLimit(options.limit, 100, MAX_READ_STREAM_LIMIT),
          direction: options.backward ? 'backward' : 'forward',
        });
        if (options.json) printJson(events.map(eventJson));
        else if (events.length === 0)
          print(`Stream ${safe(stream)} has no events${options.from ? ' from there' : ''}.`);
        else for (const e of events) print(line(e));
      });
    });
}
