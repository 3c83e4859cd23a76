/**
 * After the load, what a team does with an event log: fix a read model's bug and backfill it, release a new
 * read-model version built blue/green (checked for drift), see what a reactor would do without doing it, and
 * archive the oldest half of the log while rebuilds still read all of it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  archive,
  createReplay,
  LOG_START,
  type ConsumerDefinition,
  type Replay,
  type ReplayOptions,
  type Worker,
} from '../../src/index.js';
import { wrongBalances, waitFor, type Figures } from './checks.js';
import { receiptMailer } from './consumers.js';
import type { MailService } from './mail-service.js';
import type { Release, Runtime } from './runtime.js';
import { progress, say, type DemoSummary } from './summary.js';

export interface Story {
  worker: Worker;
  archiveDir: string;
  readBackAfterArchive: number;
  backfill: DemoSummary['backfill'];
  redelivery: DemoSummary['redelivery'];
  rebuild: DemoSummary['rebuild'];
  dryRun: DemoSummary['dryRun'];
  archive: DemoSummary['archive'];
}

/** Plans a replay, starts it with the plan's token, and follows it with a progress bar. */
async function runJob(replay: Replay, options: ReplayOptions, label: string) {
  const plan = await replay.plan(options);
  const started = await replay.start({ ...options, previewToken: plan.previewToken });
  const bar = progress(label, plan.events);
  let job = started;
  while (!['completed', 'failed', 'cancelled', 'paused'].includes(job.state)) {
    await new Promise((r) => setTimeout(r, 50));
    job = await replay.get(started.id);
    bar.update(job.done, Math.max(job.total, job.done));
  }
  bar.stop();
  if (job.state !== 'completed') throw new Error(`${label}: the job ended ${job.state}: ${job.error ?? ''}`);
  return { plan, job };
}

/** Releases `release` in place of `old`, and follows the rebuild of order_summary until the new version is live. */
async function release(rt: Runtime, old: Worker, r: Release, workerId: string) {
  await old.stop();
  const worker = await rt.deploy(r, workerId);
  const bar = progress(`rebuilding order_summary v${r.summary} (blue/green)`, 1);
  const reads = { served: 0, empty: 0 };
  await waitFor(`order_summary v${r.summary} to go live`, async () => {
    const p = worker.projections.progress('order_summary');
    bar.update(p.done, Math.max(p.total, p.done));
    // Readers use the stable name throughout: the old version until the switch, then the new one.
    const [row] = await rt.store.executor.query<{ n: number }>(
      `select count(*)::int as n from ${rt.rm}.order_summary`,
    );
    if ((row?.n ?? 0) > 0) reads.served++;
    else reads.empty++;
    return p.versionStatus === 'live';
  });
  await worker.projections.waitLive('order_summary', 60_000);
  bar.stop();
  const drift = await worker.projections.checkDrift('order_summary');
  const [row] = await rt.store.executor.query<{ n: number }>(
    `select count(*)::int as n from ${rt.rm}.order_summary`,
  );
  say(
    `  v${r.summary} live; readers of order_summary were served ${reads.served} times during the rebuild ` +
      `(${reads.empty} empty); drift check: ${drift.ok ? 'the live table equals a fold of the log' : 'DRIFT'}`,
  );
  return { worker, driftOk: drift.ok, rows: row?.n ?? 0 };
}

async function readWholeLog(rt: Runtime): Promise<number> {
  let after = LOG_START;
  let n = 0;
  for (;;) {
    const page = await rt.store.readLog({ after, limit: 5000 });
    if (page.events.length === 0) return n;
    n += page.events.length;
    after = page.checkpoint;
  }
}

async function checkpointOfEvent(rt: Runtime, nth: number): Promise<string> {
  let after = LOG_START;
  let seen = 0;
  for (;;) {
    const page = await rt.store.readLog({ after, limit: 1000 });
    const hit = page.events[nth - seen - 1];
    if (hit !== undefined) return hit.checkpoint;
    if (page.events.length === 0) throw new Error(`the log holds fewer than ${nth} events`);
    seen += page.events.length;
    after = page.checkpoint;
  }
}

export async function afterTheLoad(
  rt: Runtime,
  current: Worker,
  mail: MailService,
  figures: Figures,
): Promise<Story> {
  const byName = (defs: ConsumerDefinition[], name: string) => defs.find((c) => c.name === name)!;

  // 1. The bug: user_balance ignored refunds. The fix ships, and a backfill re-applies the refunds of the past.
  say('\n1. user_balance ignored refunds (a bug). Release the fix, backfill the refunds:');
  const balancesWrongBefore = await wrongBalances(rt);
  say(`  customers whose balance disagrees with the orders table: ${balancesWrongBefore}`);
  await current.stop();
  let worker = await rt.deploy({ summary: 1, balanceWithRefunds: true }, 'worker-c');
  const fixed = rt.consumers({ summary: 1, balanceWithRefunds: true });
  const replay = createReplay(rt.store, {
    consumers: [byName(fixed, 'user_balance'), byName(fixed, 'order_search'), receiptMailer(rt.mailUrl)],
    previewThreshold: 1000,
  });
  const fix = await runJob(
    replay,
    { kind: 'backfill', consumer: 'user_balance', types: ['order.refunded'], reprocess: true },
    'backfill user_balance (refunds)',
  );
  const balancesWrongAfter = await wrongBalances(rt);
  say(`  reprocessed ${fix.job.report.reprocessed} refunds; balances wrong now: ${balancesWrongAfter}`);

  // 2. Every event delivered again to a live read model: the order guard makes each one a no-op.
  say('\n2. Deliver the whole history to order_search again (duplicates):');
  const again = await runJob(
    replay,
    { kind: 'backfill', consumer: 'order_search' },
    'redeliver to order_search',
  );
  say(
    `  ${again.job.done} events delivered again, ${again.job.report.alreadyApplied} recognised as already applied`,
  );

  // 3. order_summary v2 (carrier, refunded amount), built beside v1 and switched live.
  say('\n3. Release order_summary v2, built blue/green beside v1:');
  const v2 = await release(rt, worker, { summary: 2, balanceWithRefunds: true }, 'worker-d');
  worker = v2.worker;

  // 4. What would the receipt mailer do over all history? A dry run records effects, performs none.
  say('\n4. Dry run of receipt-mailer over all history:');
  const sentBefore = mail.stats().sent;
  const dry = await runJob(
    replay,
    { kind: 'dry-run', consumer: 'receipt-mailer' },
    'dry run of receipt-mailer',
  );
  const effects = dry.job.report.effects['send-receipt'] ?? { count: 0, alreadyPerformed: 0 };
  const sentDuringDryRun = mail.stats().sent - sentBefore;
  say(
    `  would send ${effects.count} receipts; ${effects.alreadyPerformed} are in the effect journal as sent ` +
      `(a live replay skips them); the mail service got ${sentDuringDryRun} during the dry run`,
  );
  await replay.stop();

  // 5. Archive the oldest half of the log to checksummed segments; a rebuild still reads all of it.
  say('\n5. Archive the oldest half of the log, then rebuild order_summary v3 through the archive:');
  await worker.projections.dropRetired('order_summary');
  const archiveDir = await mkdtemp(join(tmpdir(), 'eventlane-demo-archive-'));
  const half = Math.floor(figures.appended / 2);
  const bar = progress('archiving', half);
  let archivedSoFar = 0;
  const result = await archive(rt.store, {
    before: await checkpointOfEvent(rt, half),
    to: archiveDir,
    segmentBytes: 256 * 1024,
    onProgress: (p) => {
      if (p.step === 'deleted') bar.update((archivedSoFar += p.events));
    },
  });
  bar.stop();
  say(
    `  ${result.deleted} events moved to ${result.segments.length} segments in ${archiveDir}` +
      (result.heldBy.length > 0 ? ` (held back by ${result.heldBy.map((h) => h.name).join(', ')})` : ''),
  );
  const v3 = await release(rt, worker, { summary: 3, balanceWithRefunds: true }, 'worker-e');
  const readBackAfterArchive = await readWholeLog(rt);
  say(`  the log read from its start: ${readBackAfterArchive} events (archive, then table)`);

  return {
    worker: v3.worker,
    archiveDir,
    readBackAfterArchive,
    backfill: { balancesWrongBefore, reprocessed: fix.job.report.reprocessed, balancesWrongAfter },
    redelivery: { delivered: again.job.done, alreadyApplied: again.job.report.alreadyApplied },
    rebuild: { version: 2, driftOk: v2.driftOk, rows: v2.rows },
    dryRun: { wouldSend: effects.count, alreadyPerformed: effects.alreadyPerformed, sentDuringDryRun },
    archive: {
      archived: result.deleted,
      segments: result.segments.length,
      rebuildVersion: 3,
      rebuildRows: v3.rows,
      driftOk: v3.driftOk,
    },
  };
}
