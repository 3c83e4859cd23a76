/**
 * For the processes tests start (chaos workers, relay children): they must never outlive the test run.
 * Imported by the child, never by a test file.
 */

/** Exits as soon as the parent (the vitest worker) is gone, e.g. killed on a timeout before it could reap us. */
export function exitWithParent(): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 500);
  timer.unref();
}

/**
 * On SIGTERM (or SIGINT) runs `stop` and exits 0; if that takes longer than `boundMs`, exits 1 anyway. A second
 * signal exits at once.
 */
export function stopOnSignal(stop: () => Promise<unknown>, boundMs: number): void {
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`did not stop within ${boundMs} ms of SIGTERM; exiting anyway\n`);
      process.exit(1);
    }, boundMs).unref();
    void stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
