/**
 * Named points of an archive run where the crash tests kill the process (`EVENTLANE_ARCHIVE_KILL_AT=delete`, or
 * `delete:3` for the third time the point is reached): kill -9 at the worst moments, to prove that a rerun completes
 * without losing or doubling an event. Unset in production: a lookup of one environment variable per step.
 */

export type KillPoint = 'export' | 'verify' | 'delete' | 'deleted';

const reached = new Map<string, number>();

export function killPoint(point: KillPoint): void {
  const wanted = process.env.EVENTLANE_ARCHIVE_KILL_AT;
  if (wanted === undefined || wanted === '') return;
  const [name, nth] = wanted.split(':');
  if (name !== point) return;
  const n = (reached.get(point) ?? 0) + 1;
  reached.set(point, n);
  if (n >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
