import type { Command } from 'commander';
import type { ConsumerDefinition } from '../consumers/define.js';
import { InvalidArgumentError } from '../errors.js';
import { createReplay, type Replay } from '../replay/replay.js';
import type { ReplayKind, ReplayPlan, ReplayState, StartOptions } from '../replay/types.js';
import { createEventStore, type EventStore } from '../store/event-store.js';
import { loadConfig } from './config.js';
import { print as out } from './io.js';
import { describeJob, follow, report } from './replay-progress.js';

interface ConnectOptions {
  config?: string;
  url?: string;
  schema?: string;
  json?: boolean;
}

interface JobFlags extends ConnectOptions {
  kind: string;
  consumer: string;
  from?: string;
  to?: string;
  follow?: boolean;
  types?: string;
  streamPrefix?: string;
  reprocess?: boolean;
  rate?: string;
  concurrency?: string;
  adaptive?: boolean;
  allowEffects?: boolean;
  previewToken?: string;
  detach?: boolean;
}

/** A range bound from the command line: a checkpoint stays a string, anything else must be an ISO time. */
function bound(value: string | undefined, name: string): string | Date | undefined {
  if (value === undefined || /^\d+:\d+$/.test(value)) return value;
  const time = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      `--${name} ${JSON.stringify(value.slice(0, 100))} is neither a checkpoint (<txOrder>:<globalPosition>) nor an ` +
        'ISO time (2026-11-29T10:00:00Z).',
    );
  }
  return time;
}

function numberFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`--${name} must be a number, got ${JSON.stringify(value.slice(0, 100))}.`);
  }
  return n;
}

/** The flags as replay options; the engine checks them like any caller's. */
function jobOptions(f: JobFlags): StartOptions {
  const o: StartOptions = { kind: f.kind as ReplayKind, consumer: f.consumer };
  const from = bound(f.from, 'from');
  const to = bound(f.to, 'to');
  if (from !== undefined) o.from = from;
  if (to !== undefined) o.to = to;
  if (f.follow) o.follow = true;
  if (f.types !== undefined) o.types = f.types.split(',').map((t) => t.trim());
  if (f.streamPrefix !== undefined) o.streamPrefix = f.streamPrefix;
  if (f.reprocess) o.reprocess = true;
  const rate = numberFlag(f.rate, 'rate');
  if (rate !== undefined) o.maxEventsPerSecond = rate;
  const concurrency = numberFlag(f.concurrency, 'concurrency');
  if (concurrency !== undefined) o.concurrency = concurrency;
  if (f.adaptive) o.adaptive = true;
  if (f.allowEffects) o.allowEffects = true;
  if (f.previewToken !== undefined) o.previewToken = f.previewToken;
  if (f.detach) o.detached = true;
  return o;
}

/** Opens the store (PostgreSQL at --url or DATABASE_URL) and an engine with the config's consumers. */
async function connect(o: ConnectOptions): Promise<{ store: EventStore; replay: Replay }> {
  const url = o.url ?? process.env.DATABASE_URL;
  if (url === undefined || url === '') {
    throw new InvalidArgumentError(
      'Pass --url postgres://… (or set DATABASE_URL): replay jobs live in PostgreSQL.',
    );
  }
  const loaded = await loadConfig(o.config);
  const store = await createEventStore({ url, ...(o.schema === undefined ? {} : { schema: o.schema }) });
  try {
    const consumers = (loaded.config.consumers ?? []) as readonly ConsumerDefinition[];
    return { store, replay: createReplay(store, { consumers }) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function withReplay(o: ConnectOptions, fn: (replay: Replay) => Promise<void>): Promise<void> {
  const { store, replay } = await connect(o);
  try {
    await fn(replay);
  } finally {
    await replay.stop();
    await store.close();
  }
}

function describePlan(p: ReplayPlan): string {
  const lines = [
    `${p.kind} of ${p.consumer}: ${p.events} events (after ${p.from}, up to ${p.to ?? 'the head, then following'})`,
    ...Object.entries(p.byType).map(([type, n]) => `  ${type}: ${n}`),
    `touches: ${p.touches.length === 0 ? 'nothing (dry run)' : p.touches.join(', ')}`,
  ];
  for (const [name, s] of Object.entries(p.effects ?? {})) {
    lines.push(
      `effect ${name}: ${s.count}${p.effectsEstimated ? ' (estimated)' : ''}, ${s.alreadyPerformed} already performed`,
    );
  }
  if (p.expectedMs !== null) lines.push(`expected duration: ${(p.expectedMs / 1000).toFixed(1)} s`);
  lines.push(`preview token: ${p.previewToken}${p.previewRequired ? ' (required to start)' : ''}`);
  return lines.join('\n');
}

/** `eventlane replay …`: plan, start and control replay jobs. */
export function registerReplayCommands(program: Command): void {
  const replay = program
    .command('replay')
    .description('replay jobs: backfills, rebuilds, dry runs, reactor replays');
  const conn = (cmd: Command) =>
    cmd
      .option(
        '-c, --config <file>',
        'config module exporting `events` and `consumers` (default: ./eventlane.config.*)',
      )
      .option('--url <url>', 'PostgreSQL URL (default: $DATABASE_URL)')
      .option('--schema <schema>', "the store's schema (default: eventlane)")
      .option('--json', 'print JSON');
  const job = (cmd: Command) =>
    conn(cmd)
      .requiredOption('--kind <kind>', 'rebuild | backfill | dry-run | reactor-replay')
      .requiredOption('--consumer <name>', 'the consumer, by name')
      .option('--from <checkpoint|time>', 'start after this checkpoint, or at this ISO time')
      .option('--to <checkpoint|time>', 'end at this checkpoint or ISO time (default: the head)')
      .option('--follow', 'catch up, then go on with new events')
      .option('--types <list>', 'only these event types (comma-separated)')
      .option('--stream-prefix <prefix>', 'only streams starting with this')
      .option('--reprocess', 'backfills: apply again what the consumer applied')
      .option('--rate <events/s>', 'at most this many events per second')
      .option('--concurrency <n>', 'parts of a page applied at once')
      .option('--adaptive', 'slow down under load')
      .option('--allow-effects', 'reactor-replay: perform effects not journaled yet');

  job(replay.command('plan'))
    .description('what a job would do, doing nothing')
    .action((f: JobFlags) =>
      withReplay(f, async (r) => {
        const p = await r.plan(jobOptions(f));
        out(f.json ? JSON.stringify(p, null, 2) : describePlan(p));
      }),
    );

  job(replay.command('start'))
    .description('start a job and follow it with a live progress bar (Ctrl-C pauses it)')
    .option('--preview-token <token>', 'the token of `replay plan` (required above the preview threshold)')
    .option('--detach', 'write the job queued and return (resume it anywhere)')
    .action((f: JobFlags) =>
      withReplay(f, async (r) => {
        const started = await r.start(jobOptions(f));
        report(f.detach ? started : await follow(r, started.id, f.json === true), f.json === true);
      }),
    );

  conn(replay.command('list'))
    .description('jobs, newest first')
    .option('--state <states>', 'only these states (comma-separated)')
    .action((f: ConnectOptions & { state?: string }) =>
      withReplay(f, async (r) => {
        const states = f.state?.split(',').map((s) => s.trim()) as ReplayState[] | undefined;
        const jobs = await r.list(states === undefined ? {} : { states });
        out(f.json ? JSON.stringify(jobs, null, 2) : jobs.map(describeJob).join('\n') || 'No replay jobs.');
      }),
    );

  conn(replay.command('show <id>'))
    .description('one job: state, progress, report')
    .action((id: string, f: ConnectOptions) =>
      withReplay(f, async (r) => {
        const j = await r.get(id);
        out(f.json ? JSON.stringify(j, null, 2) : `${describeJob(j)}\n${JSON.stringify(j.report, null, 2)}`);
      }),
    );

  for (const [name, what] of [
    ['pause', 'stop after the page in progress'],
    ['cancel', 'end the job for good'],
  ] as const) {
    conn(replay.command(`${name} <id>`))
      .description(what)
      .action((id: string, f: ConnectOptions) =>
        withReplay(f, async (r) =>
          report(await (name === 'pause' ? r.pause(id) : r.cancel(id)), f.json === true),
        ),
      );
  }

  conn(replay.command('resume <id>'))
    .description('run a queued, paused or failed job here from its checkpoint, with a live progress bar')
    .option('--take-over', 'take over a running job whose process is gone')
    .action((id: string, f: ConnectOptions & { takeOver?: boolean }) =>
      withReplay(f, async (r) => {
        await r.resume(id, { takeOver: f.takeOver === true });
        report(await follow(r, id, f.json === true), f.json === true);
      }),
    );
}
