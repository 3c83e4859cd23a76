import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kill9, reap, track } from '../../support/processes.js';
import { scaled } from '../../support/time.js';

const script = fileURLToPath(new URL('./relay-process.ts', import.meta.url));

export interface RelayChild {
  proc: ChildProcess;
  /** Every stdout line so far, with the time it was seen (performance.now()). */
  lines: { at: number; text: string }[];
  /** Waits for a line starting with `text`; the timeout (default 20 s) is scaled by EVENTLANE_TEST_TIME_SCALE. */
  waitFor(text: string, timeoutMs?: number): Promise<number>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function spawnRelay(env: Record<string, string>): RelayChild {
  // Tracked: reaped after each test whatever its outcome (see test/support/processes.ts).
  const proc = track(
    spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const lines: { at: number; text: string }[] = [];
  let buffer = '';
  const waiters: { text: string; resolve: (at: number) => void }[] = [];
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const at = performance.now();
      lines.push({ at, text });
      for (const w of waiters.splice(0)) {
        if (text.startsWith(w.text)) w.resolve(at);
        else waiters.push(w);
      }
    }
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return {
    proc,
    lines,
    waitFor(text, timeoutMs = 20_000) {
      timeoutMs = scaled(timeoutMs);
      const seen = lines.find((l) => l.text.startsWith(text));
      if (seen) return Promise.resolve(seen.at);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `relay child did not print ${text} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          text,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        });
      });
    },
    kill9: () => kill9(proc),
    stop: () => reap(proc, scaled(10_000)),
  };
}
