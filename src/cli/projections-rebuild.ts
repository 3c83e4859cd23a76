// `eventlane projections rebuild <name>`: builds the building version of a versioned projection through a `rebuild`
// replay job, the code path createProjections and the admin API use (paging, throttle, progress, resume), and
// writes the start to the audit log as the API does (`replay.start`).

import type { Command } from 'commander';
import type { ProjectionDefinition } from '../consumers/define.js';
import {
  describeValue,
  InvalidArgumentError,
  RebuildInProgressError,
  UnknownConsumerError,
} from '../errors.js';
import { audited } from '../ops/audit.js';
import { readVersion } from '../projections/registry.js';
import { changeState, type DbReplayJob } from '../replay/jobs.js';
import { openRebuildJob } from '../replay/rebuild-job.js';
import { createReplay } from '../replay/replay.js';
import type { StartOptions } from '../replay/types.js';
import type { Driver } from '../store/drivers/driver.js';
import type { EventStore } from '../store/event-store.js';
import { compareCheckpoints, quoteIdent } from '../store/names.js';
import { cliIo, print } from './io.js';
import {
  actorOf,
  loadOpsConfig,
  openStore,
  requireMigrated,
  withCommonOptions,
  type CommonOptions,
} from './ops-context.js';
import { follow, report } from './replay-progress.js';

interface RebuildOptions extends CommonOptions {
  maxEventsPerSecond?: string;
  detach?: boolean;
  as?: string;
}

function rateFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(
      `--max-events-per-second must be a number of events per second above 0, got ${describeValue(value.slice(0, 100))}.`,
    );
  }
  return n;
}

/**
 * The version's open rebuild job. One whose checkpoint is past the version's was left by an earlier version of the
 * same name: resuming it would skip events, so it is cancelled (as the projections runner does) and not returned.
 */
async function resumableJob(store: EventStore, def: ProjectionDefinition): Promise<DbReplayJob | undefined> {
  const db = store.executor as Driver;
  const q = quoteIdent(store.schema);
  const open = await openRebuildJob(db, q, def.name);
  if (open === undefined) return undefined;
  const version = await readVersion(db, q, def.name, def.version);
  if (version !== undefined && compareCheckpoints(open.checkpoint, version.checkpoint) > 0) {
    await changeState(db, q, open.id, 'cancelled');
    return undefined;
  }
  return open;
}

export function registerRebuildCommand(projections: Command): void {
  withCommonOptions(projections.command('rebuild'))
    .argument('<name>', 'projection name (its definition comes from `consumers` of the config)')
    .option('--max-events-per-second <n>', 'throttle the rebuild to this many events per second')
    .option(
      '--detach',
      'write the job queued and return its id: the projections runner of the service, or ' +
        '`eventlane replay resume <id>`, runs it',
    )
    .option('--as <name>', 'who acts, for the audit log (default: EVENTLANE_ACTOR, else cli:<user>)')
    .description(
      'build the building version of a versioned projection from its checkpoint to the head (blue/green), with a ' +
        'progress bar; Ctrl-C pauses the job',
    )
    .action(async (name: string, options: RebuildOptions) => {
      const rate = rateFlag(options.maxEventsPerSecond);
      const config = await loadOpsConfig(options);
      const defs = (config.consumers ?? []).filter(
        (c): c is ProjectionDefinition =>
          c.kind === 'projection' && Object.keys((c as ProjectionDefinition).tables ?? {}).length > 0,
      );
      const def = defs.find((d) => d.name === name);
      if (def === undefined) {
        throw new UnknownConsumerError(
          name,
          defs.map((d) => d.name),
        );
      }
      const store = await openStore(options, config);
      const replay = createReplay(store, { consumers: [def] });
      try {
        await requireMigrated(store);
        const json = options.json === true;
        const actor = actorOf(options.as);
        const open = await resumableJob(store, def);
        if (open !== undefined) {
          // A rebuild left queued, paused or failed (a stopped runner, Ctrl-C, a failing event): go on with it from
          // its checkpoint, as the projections runner would, rather than build the version twice.
          if (open.state === 'running' || options.detach) throw new RebuildInProgressError(name, open);
          if (rate !== undefined) await replay.setRate(open.id, rate);
          await audited(
            store,
            { actor, action: 'replay.resume', target: `replay:${open.id}`, details: {} },
            () => replay.resume(open.id),
          );
          if (!json) {
            cliIo().err(
              `Resuming the ${open.state} rebuild of ${name} v${def.version} (replay job ${open.id}, ` +
                `${open.done} of ${open.total} events).\n`,
            );
          }
          report(await follow(replay, open.id, json), json);
          return;
        }
        const start: StartOptions = { kind: 'rebuild', consumer: name };
        if (rate !== undefined) start.maxEventsPerSecond = rate;
        // The operator asked for this rebuild by name: its plan is the preview, whatever its size.
        const plan = await replay.plan(start);
        start.previewToken = plan.previewToken;
        if (options.detach) start.detached = true;
        const { previewToken: _token, ...details } = start;
        const started = await audited(
          store,
          {
            actor,
            action: 'replay.start',
            target: `consumer:${name}`,
            details: { ...details, previewed: true },
          },
          () => replay.start(start),
        );
        if (!json) {
          cliIo().err(
            `Rebuilding ${name} v${def.version}: ${plan.events} events after ${plan.from} (replay job ${started.id}` +
              `${options.detach ? ', queued' : ''}).\n`,
          );
        }
        if (options.detach) {
          if (json) report(started, true);
          else print(started.id);
          return;
        }
        report(await follow(replay, started.id, json), json);
      } finally {
        await replay.stop();
        await store.close();
      }
    });
}
