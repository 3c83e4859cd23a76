import type { Command } from 'commander';
import { readOverview, type Overview } from '../ops/inventory.js';
import { duration, table } from './format.js';
import { print, printJson } from './io.js';
import { withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

function render(o: Overview): string {
  const lines: string[] = [];
  lines.push(`schema ${o.schema}: head ${o.head.checkpoint} (${o.head.globalPosition} events)`);
  lines.push(`oldest open transaction: ${duration(o.oldestTransactionAgeSeconds)}`);
  lines.push('');
  lines.push(
    o.relays.length === 0
      ? 'relays: none recorded'
      : table([
          ['RELAY', 'LEASED', 'BACKLOG', 'OLDEST', 'PARKED', 'HELD', 'PUBLISHED'],
          ...o.relays.map((r) => [
            r.name,
            r.leased ? 'yes' : 'no',
            r.backlogEvents,
            duration(r.oldestUnpublishedAgeSeconds),
            r.parked,
            r.held,
            r.published,
          ]),
        ]),
  );
  lines.push('');
  lines.push(
    o.consumers.length === 0
      ? 'consumers: none recorded'
      : table([
          ['CONSUMER', 'LAG', 'LAG AGE', 'PARKED', 'RETRYING', 'WORKERS', 'BREAKER', 'STATE'],
          ...o.consumers.map((c) => [
            c.name,
            c.eventsBehind,
            duration(c.secondsBehind),
            c.parked,
            c.retrying,
            c.workers,
            c.breaker ?? '-',
            c.state,
          ]),
        ]),
  );
  lines.push('');
  lines.push(
    o.projections.length === 0
      ? 'projections: none recorded'
      : table([
          ['PROJECTION', 'VERSION', 'STATUS', 'LAG', 'LAG AGE', 'PARKED', 'STOPPED AT'],
          ...o.projections.map((p) => [
            p.name,
            p.version,
            p.status,
            p.eventsBehind,
            duration(p.secondsBehind),
            p.parked,
            p.failure ? `${p.failure.stream}@${p.failure.streamPosition} (${p.failure.status})` : '-',
          ]),
        ]),
  );
  const parked = o.parked.consumers + o.parked.projections + o.parked.relays;
  if (parked > 0) lines.push('', `${parked} parked event(s): see \`eventlane parked list\`.`);
  return lines.join('\n');
}

/** `eventlane status`: head, relays and backlog, consumers and lag, projections, parked, oldest transaction. */
export function registerStatusCommand(program: Command): void {
  withCommonOptions(program.command('status'))
    .description(
      'the system at a glance: head, relays and backlog, consumers and projections with lag, parked events',
    )
    .action(async (options: CommonOptions) => {
      const overview = await withStore(options, readOverview);
      if (options.json) printJson(overview);
      else print(render(overview));
    });
}
