// How the CLI shows a replay job run in this process: one line per job, and a live progress bar while it runs
// (`eventlane replay start|resume`, `eventlane projections rebuild`).

import cliProgress from 'cli-progress';
import type { Replay } from '../replay/replay.js';
import type { ReplayJob, ReplayState } from '../replay/types.js';
import { cliIo, print as out } from './io.js';

/** One line: id, kind, consumer, state, progress, rate, ETA and the error a failed job stopped at. */
export function describeJob(j: ReplayJob): string {
  const eta = j.etaMs === null ? '-' : `${Math.round(j.etaMs / 1000)} s`;
  return (
    `${j.id}  ${j.kind} ${j.consumer}  ${j.state}  ${j.done}/${j.total}  applied ${j.applied}, skipped ` +
    `${j.skipped}  ${Math.round(j.rate)} ev/s  ETA ${eta}${j.error === null ? '' : `  error: ${j.error}`}`
  );
}

const ENDED: readonly ReplayState[] = ['completed', 'failed', 'cancelled', 'paused'];

/** Follows a job run in this process until it ends: a live bar on a terminal, a line per second elsewhere. */
export async function follow(replay: Replay, id: string, json: boolean): Promise<ReplayJob> {
  const tty = process.stdout.isTTY && !json;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: ' {bar} {percentage}% | {value}/{total} | {rate} ev/s | ETA {eta_formatted} | {state}' },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let job = await replay.get(id);
  bar?.start(Math.max(job.total, 1), job.done, { rate: 0, state: job.state });
  // Ctrl-C (or SIGTERM) pauses the job after the page in progress rather than leaving it running with a stale
  // heartbeat; resume it from its checkpoint with `eventlane replay resume`.
  const onSignal = () => void replay.pause(id).catch(() => undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!ENDED.includes(job.state)) {
      await new Promise((r) => setTimeout(r, tty ? 200 : 1000));
      job = await replay.get(id);
      if (bar !== null) {
        bar.setTotal(Math.max(job.total, job.done, 1));
        bar.update(job.done, { rate: Math.round(job.rate), state: job.state });
      } else if (!json) out(describeJob(job));
    }
    return await replay.wait(id);
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Prints the job as a line (or JSON); a failed job makes the command exit 1. */
export function report(job: ReplayJob, json: boolean): void {
  out(json ? JSON.stringify(job, null, 2) : describeJob(job));
  if (job.state === 'failed') cliIo().exitCode = 1;
}
