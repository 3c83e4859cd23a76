import type { Command } from 'commander';
import type { ParkedEvent } from '../consumers/admin.js';
import { InvalidArgumentError } from '../errors.js';
import { parseIds, parseLimit, parseStatuses } from '../ops/input.js';
import { checkConsumerKey } from '../ops/inventory.js';
import {
  bulkParked,
  bulkRelayParked,
  listParked,
  listRelayParked,
  retryParked,
  retryRelayParked,
  showParked,
  skipParked,
  skipRelayParked,
  type BulkResult,
} from '../ops/parked.js';
import type { RelayParkedEvent } from '../relay/parking-admin.js';
import { safe, table } from './format.js';
import { cliIo, EXIT_CODES, print, printJson } from './io.js';
import { actorOf, withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

interface ListOptions extends CommonOptions {
  consumer?: string;
  relay?: string;
  status?: string;
  limit?: string;
}

interface ActionOptions extends CommonOptions {
  consumer?: string;
  relay?: boolean;
  reason?: string;
  as?: string;
}

/** Consumer-parked and relay-parked rows in one layout; `owner` is the consumer or the relay. */
function parkedTable(
  rows: readonly {
    id: string;
    stream: string;
    streamPosition: number;
    eventType: string;
    status: string;
    attempts: number;
    error: string | null;
  }[],
  owner: (i: number) => string,
  heading: string,
): string {
  return table([
    ['ID', heading, 'STREAM', 'TYPE', 'STATUS', 'ATTEMPTS', 'ERROR'],
    ...rows.map((r, i) => [
      r.id,
      owner(i),
      `${r.stream}@${r.streamPosition}`,
      r.eventType,
      r.status,
      r.attempts,
      (r.error ?? '').split('\n')[0]!.slice(0, 80),
    ]),
  ]);
}

const consumerTable = (rows: readonly ParkedEvent[]) =>
  parkedTable(rows, (i) => rows[i]!.consumer, 'CONSUMER');
const relayTable = (rows: readonly RelayParkedEvent[]) => parkedTable(rows, (i) => rows[i]!.relay, 'RELAY');

/** Prints a bulk result; any refused id makes the exit code say so. */
function report<T extends { id: string; status: string }>(
  result: BulkResult<T>,
  json: boolean | undefined,
): void {
  if (json) printJson(result);
  else {
    for (const r of result.done) print(`${r.id}: ${r.status}`);
    for (const f of result.failed) print(`${f.id}: refused (${f.code}) ${safe(f.message)}`);
  }
  if (result.failed.length > 0) cliIo().exitCode = EXIT_CODES.NOT_FOUND;
}

function targets(ids: string[], options: ActionOptions): { ids?: string[]; consumer?: string } {
  if (ids.length > 0 && options.consumer !== undefined) {
    throw new InvalidArgumentError(
      'Give parked event ids or --consumer <name> (all its parked events), not both.',
    );
  }
  if (ids.length === 0 && options.consumer === undefined) {
    throw new InvalidArgumentError(
      'Name the parked events: ids from `eventlane parked list`, or --consumer <name>.',
    );
  }
  return ids.length > 0 ? { ids: parseIds(ids) } : { consumer: options.consumer };
}

/** `eventlane parked list|show|retry|skip`. */
export function registerParkedCommands(program: Command): void {
  const parked = program
    .command('parked')
    .description('failing and parked events of consumers, projections and relays');

  withCommonOptions(parked.command('list'))
    .description('list parked events (of consumers and projection versions; of relays with --relay)')
    .option('--consumer <name>', 'only this consumer (a projection version is <name>@v<version>)')
    .option('--relay <name>', 'relay-parked events of this relay instead')
    .option('--status <list>', 'comma-separated statuses (default: parked)')
    .option('--limit <n>', 'rows to print (default 100)')
    .action(async (options: ListOptions) => {
      await withStore(options, async (store) => {
        const limit = parseLimit(options.limit, 100, 10_000);
        if (options.relay !== undefined) {
          const rows = await listRelayParked(store, {
            relay: options.relay,
            status: parseStatuses(options.status),
            limit,
          });
          if (options.json) printJson(rows);
          else print(rows.length === 0 ? 'No relay-parked events.' : relayTable(rows));
          return;
        }
        if (options.consumer !== undefined) await checkConsumerKey(store, options.consumer);
        const rows = await listParked(store, {
          consumer: options.consumer,
          status: parseStatuses(options.status),
          limit,
        });
        if (options.json) printJson(rows);
        else print(rows.length === 0 ? 'No parked events.' : consumerTable(rows));
      });
    });

  withCommonOptions(parked.command('show'))
    .argument('<id>', 'parked event id')
    .option('--redact', "hide the event's data and metadata")
    .description('one parked event: error, attempts, stack and the event data')
    .action(async (id: string, options: CommonOptions & { redact?: boolean }) => {
      await withStore(options, async (store) => {
        const view = await showParked(store, id, { redactEventData: options.redact === true });
        if (options.json) printJson(view);
        else {
          print(consumerTable([view]));
          print(`\nerror:\n${safe(view.error)}`);
          if (view.stack) print(`\nstack:\n${safe(view.stack)}`);
          print(
            `\ndata: ${safe(JSON.stringify(view.data))}\nmetadata: ${safe(JSON.stringify(view.metadata))}`,
          );
        }
      });
    });

  for (const action of ['retry', 'skip'] as const) {
    const cmd = withCommonOptions(parked.command(action))
      .argument('[ids...]', 'parked event ids')
      .option('--consumer <name>', `${action} every parked event of this consumer`)
      .option('--relay', 'the ids are relay-parked events')
      .option('--as <name>', 'who acts, for the audit log (default: EVENTLANE_ACTOR, else cli:<user>)')
      .description(
        action === 'retry'
          ? 'send parked events back for immediate attempts (audited)'
          : 'give up on parked events: their streams go on after them (audited)',
      );
    if (action === 'skip') cmd.option('--reason <text>', 'why, for the record');
    cmd.action(async (ids: string[], options: ActionOptions) => {
      await withStore(options, async (store) => {
        const actor = actorOf(options.as);
        const { reason, relay } = options;
        if (relay && ids.length === 0) {
          throw new InvalidArgumentError(`Give the relay-parked event ids to ${action}.`);
        }
        const target = relay ? { ids: parseIds(ids) } : targets(ids, options);
        if (target.ids?.length === 1) {
          // One id: its refusal is the command's error (one line, a hint, exit 4).
          const id = target.ids[0]!;
          const one: { id: string; status: string } = relay
            ? await (action === 'retry'
                ? retryRelayParked(store, id, actor)
                : skipRelayParked(store, id, actor, reason))
            : await (action === 'retry'
                ? retryParked(store, id, actor)
                : skipParked(store, id, actor, reason));
          return report({ done: [one], failed: [] }, options.json);
        }
        report<{ id: string; status: string }>(
          relay
            ? await bulkRelayParked(store, action, target.ids!, actor, reason)
            : await bulkParked(store, action, target, actor, reason),
          options.json,
        );
      });
    });
  }
}
