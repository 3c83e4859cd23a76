import type { Bus, BusMessage } from '../bus/types.js';
import { BusError, ErrorCodes } from '../errors.js';

/** The relay's sleeps: ended early by stop(), and (when asked) by a commit notification. */
export class Waker {
  #wakeOnCommit: (() => void) | undefined;
  #wakeOnStop: (() => void) | undefined;
  #woken = false;
  /** `performance.now()` of the last commit notification. */
  lastNotifiedAt = -Infinity;

  notify(): void {
    this.#woken = true;
    this.lastNotifiedAt = performance.now();
    this.#wakeOnCommit?.();
  }

  stop(): void {
    this.#wakeOnStop?.();
  }

  /** Sleeps until `ms` passed or stop(); with `wakeOnCommit`, a commit notification ends it early too. */
  sleep(ms: number, wakeOnCommit: boolean, running: boolean): Promise<void> {
    if (!running) return Promise.resolve();
    if (wakeOnCommit && this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeOnCommit = undefined;
        this.#wakeOnStop = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeOnStop = done;
      // A backing-off relay or a standby ignores commits: a busy store must not cut a backoff short.
      if (wakeOnCommit) this.#wakeOnCommit = done;
    });
  }
}

/** `bus.publish` with a deadline: an unacknowledged batch counts as failed (and is retried) after `timeoutMs`. */
export async function publishWithin(bus: Bus, messages: BusMessage[], timeoutMs: number): Promise<void> {
  if (messages.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BusError(
            ErrorCodes.BUS_PUBLISH,
            bus.kind,
            `The ${bus.kind} broker did not acknowledge ${messages.length} events within ` +
              `${timeoutMs} ms; the relay retries them. Check the broker's health.`,
          ),
        ),
      timeoutMs,
    );
  });
  const publish = bus.publish(messages);
  publish.catch(() => undefined);
  try {
    await Promise.race([publish, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
