import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { eventJson } from '../ops/browse.js';
import { parseLimit, parsePosition } from '../ops/input.js';
import type { EventStore } from '../store/event-store.js';
import { MAX_READ_LOG_LIMIT, MAX_READ_STREAM_LIMIT, type ReadLogResult } from '../store/read.js';
import { followEvents } from './follow.js';
import { safe } from './format.js';
import { cliIo, print, printJson } from './io.js';
import { withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

interface ReadOptions extends CommonOptions {
  after?: string;
  from?: string;
  limit?: string;
  backward?: boolean;
  follow?: boolean;
}

function line(e: StoredEvent): string {
  return safe(
    `${e.checkpoint}  ${e.stream}@${e.streamPosition}  ${e.type} v${e.version}  ${e.recordedAt.toISOString()}  ` +
      JSON.stringify(e.data),
  );
}

/**
 * `read --follow`: the log after --after (default: its head now), or the stream from --from (default: after its
 * last event now), then every event committed later, one line each (NDJSON with --json), until SIGINT or SIGTERM.
 */
async function follow(store: EventStore, stream: string | undefined, options: ReadOptions): Promise<void> {
  if (options.backward) {
    throw new InvalidArgumentError('--follow reads forward: leave out --backward.');
  }
  const emit = options.json
    ? (e: StoredEvent) => print(JSON.stringify(eventJson(e)))
    : (e: StoredEvent) => print(line(e));
  const io = cliIo();
  if (stream === undefined) {
    if (options.from !== undefined) {
      throw new InvalidArgumentError('--from is a stream position: the log starts --after a checkpoint.');
    }
    const limit = parseLimit(options.limit, 1000, MAX_READ_LOG_LIMIT);
    let after = options.after ?? (await store.head()).checkpoint;
    // Checked before the loop: a bad --after fails with its own error, not after a wait.
    let first: ReadLogResult | undefined = await store.readLog({ after, limit });
    if (!options.json) io.err(`Following the log after ${after} (Ctrl-C stops).\n`);
    await followEvents(
      store,
      async () => {
        const page = first ?? (await store.readLog({ after, limit }));
        first = undefined;
        after = page.checkpoint;
        return { events: page.events, full: page.events.length === limit };
      },
      emit,
    );
    return;
  }
  if (options.after !== undefined) {
    throw new InvalidArgumentError('--after is a log checkpoint: a stream starts --from a position.');
  }
  const limit = parseLimit(options.limit, 1000, MAX_READ_STREAM_LIMIT);
  let next = parsePosition(options.from, 'from') ?? (await store.streamVersion(stream)) + 1;
  let first: StoredEvent[] | undefined = await store.readStream(stream, { from: next, limit });
  if (!options.json) io.err(`Following stream ${safe(stream)} from position ${next} (Ctrl-C stops).\n`);
  await followEvents(
    store,
    async () => {
      const events = first ?? (await store.readStream(stream, { from: next, limit }));
      first = undefined;
      if (events.length > 0) next = events[events.length - 1]!.streamPosition + 1;
      return { events, full: events.length === limit };
    },
    emit,
  );
}

/** `eventlane read [stream]`: one stream's events, or the log in commit order after a checkpoint. */
export function registerReadCommand(program: Command): void {
  withCommonOptions(program.command('read'))
    .argument('[stream]', 'a stream name; without it, the log in commit order')
    .description('read a stream, or the log from a checkpoint (--after); --follow keeps printing new events')
    .option('--after <checkpoint>', 'log: start after this checkpoint (e.g. 1234:56; default: the start)')
    .option('--from <position>', 'stream: first stream position')
    .option('--backward', 'stream: newest first')
    .option('--limit <n>', 'events to print (default 100); with --follow, events per read (default 1000)')
    .option(
      '--follow',
      'keep printing events as they are committed until Ctrl-C (from the head now unless --after/--from)',
    )
    .action(async (stream: string | undefined, options: ReadOptions) => {
      await withStore(options, async (store) => {
        if (options.follow) return follow(store, stream, options);
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
