// `eventlane read --follow`: prints events as they are committed, until SIGINT or SIGTERM. It waits on the store's
// commit announcements (LISTEN/NOTIFY, as log-mode workers do) and polls as well: an announcement may be lost when
// the listening connection breaks, and an event announced while an older transaction is open on the server only
// becomes readable once that transaction ends.

import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../store/event-store.js';
import { cliIo } from './io.js';

/** Reads again at least this often without an announcement. */
export const FOLLOW_POLL_MS = 1000;

/** Ends the follow loop on SIGINT or SIGTERM (exit 0), and the idle wait at once. */
class Stopper {
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #onSignal = (): void => this.stop();

  constructor() {
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  /** Waits until a commit is announced, `ms` passed or a signal came. */
  sleep(ms: number, waker: CommitWaker): Promise<void> {
    if (this.#stopped || waker.takeNotified()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        waker.onNotify = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
      waker.onNotify = done;
    });
  }

  dispose(): void {
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}

/** Remembers a commit announced while the loop was reading, so that the next wait returns at once. */
class CommitWaker {
  #notified = false;
  onNotify: (() => void) | undefined;

  notify(): void {
    if (this.onNotify !== undefined) this.onNotify();
    else this.#notified = true;
  }

  takeNotified(): boolean {
    const was = this.#notified;
    this.#notified = false;
    return was;
  }
}

/**
 * Calls `read` for the next page until a signal stops it: again at once after a full page, else after the next
 * commit announcement or FOLLOW_POLL_MS. Without notifications (the listen failed) it polls.
 */
export async function followEvents(
  store: EventStore,
  read: () => Promise<{ events: readonly StoredEvent[]; full: boolean }>,
  emit: (e: StoredEvent) => void,
  pollMs = FOLLOW_POLL_MS,
): Promise<void> {
  const stopper = new Stopper();
  const waker = new CommitWaker();
  let unlisten: (() => Promise<void>) | undefined;
  try {
    unlisten = await store
      .onCommit(() => waker.notify())
      .catch((error: unknown) => {
        cliIo().err(
          `eventlane: no commit notifications (${error instanceof Error ? error.message : String(error)}); ` +
            `reading every ${pollMs} ms instead.\n`,
        );
        return undefined;
      });
    while (!stopper.stopped) {
      const page = await read();
      for (const e of page.events) emit(e);
      if (!page.full) await stopper.sleep(pollMs, waker);
    }
  } finally {
    stopper.dispose();
    await unlisten?.().catch(() => undefined);
  }
}
