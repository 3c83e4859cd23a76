/**
 * Child processes started by tests: tracked, so that each test kills and reaps them whatever its outcome — passed,
 * failed or timed out — and the vitest worker never leaves one behind when it exits.
 * Importing this module registers an `afterEach` that reaps every process still running.
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';
import { scaled } from './time.js';

const live = new Map<ChildProcess, Promise<void>>();

/** Tracks `proc` until it exits; returns it. */
export function track<T extends ChildProcess>(proc: T): T {
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.once('error', () => resolve());
  });
  live.set(proc, exited);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Resolves once `proc` has exited (at once if it has). */
export function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return live.get(proc) ?? new Promise((resolve) => proc.once('exit', () => resolve()));
}

function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. Throws if even SIGKILL
 * did not end it (a zombie we cannot reap is worth a failing test).
 */
export async function reap(proc: ChildProcess, graceMs = scaled(10_000)): Promise<void> {
  const done = exited(proc);
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  if (await within(done, graceMs)) return;
  proc.kill('SIGKILL');
  if (!(await within(done, scaled(10_000))))
    throw new Error(`child process ${proc.pid} did not exit after SIGKILL`);
}

/** Kills with SIGKILL and waits for the exit. */
export async function kill9(proc: ChildProcess): Promise<void> {
  const done = exited(proc);
  proc.kill('SIGKILL');
  await done;
}

/** Reaps every tracked process that still runs. */
export async function reapAll(graceMs?: number): Promise<void> {
  await Promise.all([...live.keys()].map((p) => reap(p, graceMs)));
}

afterEach(async () => {
  await reapAll();
});

// Last resort when the vitest worker itself exits (a timeout, a crash): no child may outlive it.
process.once('exit', () => {
  for (const p of live.keys()) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});
