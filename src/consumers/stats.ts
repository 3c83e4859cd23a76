import type { BreakerState } from './breaker.js';
import type { ConsumerCounters } from './worker-types.js';

/** Counters of one consumer in this worker; the metrics and the health API read them. */
export class ConsumerStats {
  applied = 0;
  duplicates = 0;
  failures = 0;
  retries = 0;
  parkedTransitions = 0;
  /** Bus mode: events read from the store by stream catch-ups. */
  readFromStore = 0;
  /** Bus deliveries set aside because the store does not hold the event they name, by reason. */
  readonly rejected = new Map<string, number>();
  /** Applied and failed counts per second for the last 60 seconds, for throughput and error rate. */
  readonly #appliedRing = new Array<number>(60).fill(0);
  readonly #failedRing = new Array<number>(60).fill(0);
  #ringSecond = Math.floor(Date.now() / 1000);

  #advance(): number {
    const now = Math.floor(Date.now() / 1000);
    for (let s = this.#ringSecond + 1; s <= now && s - this.#ringSecond <= 60; s++) {
      this.#appliedRing[s % 60] = 0;
      this.#failedRing[s % 60] = 0;
    }
    if (now - this.#ringSecond > 60) {
      this.#appliedRing.fill(0);
      this.#failedRing.fill(0);
    }
    this.#ringSecond = Math.max(this.#ringSecond, now);
    return now % 60;
  }

  addApplied(n: number): void {
    this.applied += n;
    this.#appliedRing[this.#advance()]! += n;
  }

  addFailure(): void {
    this.failures++;
    this.#failedRing[this.#advance()]! += 1;
  }

  /** Events applied per second over the last `seconds` full seconds. */
  throughput(seconds = 10): number {
    const now = this.#advance();
    let sum = 0;
    for (let i = 1; i <= seconds; i++) sum += this.#appliedRing[(now - i + 60) % 60]!;
    return sum / seconds;
  }

  /** Failed attempts / (applied + failed attempts) over the last minute. */
  errorRate(): number {
    this.#advance();
    const a = this.#appliedRing.reduce((x, y) => x + y, 0);
    const f = this.#failedRing.reduce((x, y) => x + y, 0);
    return a + f === 0 ? 0 : f / (a + f);
  }

  /** What `worker.stats()` reports for this consumer. */
  counters(consumer: string, breaker: BreakerState): ConsumerCounters {
    const { applied, duplicates, failures, retries, readFromStore } = this;
    return { consumer, applied, duplicates, failures, retries, readFromStore, breaker };
  }
}
