import type { Command } from 'commander';
import { parseLimit, parsePosition, parseText, parseTime } from '../ops/input.js';
import { audited } from '../ops/audit.js';
import { listClosedStreams } from '../retention/closing.js';
import { readLogStats, type LogStats } from '../retention/stats.js';
import { table } from './format.js';
import { print, printJson } from './io.js';
import { actorOf, withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function render(s: LogStats): string {
  const lines = [
    `schema ${s.schema}: ${s.events} events in ${s.streams} streams`,
    `on disk: ${bytes(s.size.totalBytes)} (table ${bytes(s.size.tableBytes)}, indexes ${bytes(s.size.indexBytes)})`,
    `growth: ${s.growth.events} events in the last ${s.growth.days} days (${s.growth.eventsPerDay}/day)`,
  ];
  if (s.archivable !== undefined) {
    const a = s.archivable;
    lines.push(
      `recorded before ${a.before.toISOString()}: ${a.events} events in ${a.streams} streams, ` +
        `about ${bytes(a.estimatedBytes)} an archive run would free`,
    );
  }
  lines.push('', table([['TYPE', 'EVENTS'], ...s.byType.map((t) => [t.type, t.events])]));
  lines.push(
    '',
    table([
      ['STREAM PREFIX', 'EVENTS', 'STREAMS'],
      ...s.byStreamPrefix.map((p) => [p.prefix, p.events, p.streams]),
    ]),
  );
  lines.push('', table([['MONTH', 'EVENTS'], ...s.byMonth.map((m) => [m.month, m.events])]));
  return lines.join('\n');
}

/** `eventlane stats` and `eventlane streams close|closed`. */
export function registerRetentionCommands(program: Command): void {
  withCommonOptions(program.command('stats'))
    .description(
      'volume by event type, stream prefix and month; growth; size on disk; what archiving would free',
    )
    .option('--before <time>', 'estimate what archiving the events recorded before this time would free')
    .option('--top <n>', 'rows per breakdown (default 50)')
    .action(async (options: CommonOptions & { before?: string; top?: string }) => {
      const before = parseTime(options.before, 'before');
      const top = parseLimit(options.top, 50, 10_000);
      const stats = await withStore(options, (store) => readLogStats(store, { before, top }));
      if (options.json) printJson(stats);
      else print(render(stats));
    });

  const streams = program.command('streams').description('closed streams');
  withCommonOptions(streams.command('close'))
    .argument('<stream>', 'the stream to close')
    .description('append the stream’s final event and refuse later appends (audited)')
    .option('--expected-version <n>', 'close only if the stream is at this version')
    .option('--as <name>', 'who acts, for the audit log (default: EVENTLANE_ACTOR, else cli:<user>)')
    .action(async (stream: string, options: CommonOptions & { expectedVersion?: string; as?: string }) => {
      const expected = options.expectedVersion;
      const expectedVersion =
        expected === undefined ? undefined : parsePosition(expected, 'expected-version');
      await withStore(options, async (store) => {
        const result = await audited(
          store,
          { actor: actorOf(options.as), action: 'stream.close', target: `stream:${stream}` },
          () => store.closeStream(stream, { expectedVersion }),
        );
        if (options.json) printJson({ stream, version: result.streamVersion, closedAt: result.closedAt });
        else print(`Closed ${stream} at version ${result.streamVersion} (${result.closedAt.toISOString()}).`);
      });
    });
  withCommonOptions(streams.command('closed'))
    .description('list closed streams in name order')
    .option('--before <time>', 'only streams closed before this time')
    .option('--prefix <text>', 'only streams whose name starts with this')
    .option('--after <stream>', 'continue after this stream')
    .option('--limit <n>', 'streams to list (default 100)')
    .action(
      async (
        options: CommonOptions & { before?: string; prefix?: string; after?: string; limit?: string },
      ) => {
        const list = await withStore(options, (store) =>
          listClosedStreams(store, {
            closedBefore: parseTime(options.before, 'before'),
            streamPrefix: parseText(options.prefix, 'prefix'),
            after: parseText(options.after, 'after'),
            limit: parseLimit(options.limit, 100, 10_000),
          }),
        );
        if (options.json) printJson(list);
        else if (list.length === 0) print('No closed streams.');
        else
          print(
            table([
              ['STREAM', 'VERSION', 'CLOSED AT'],
              ...list.map((s) => [s.stream, s.version, s.closedAt.toISOString()]),
            ]),
          );
      },
    );
}
