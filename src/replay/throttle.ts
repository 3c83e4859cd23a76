/** The replay throttle: a token bucket for events per second, and an adaptive factor that backs off under load. */

/** Time, injectable so that tests can drive the throttle without waiting. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * A token bucket that lets a caller take more than it holds and then wait off the debt: a replay takes a whole
 * page at once and sleeps until the page is paid for, so the long-run rate is exactly the limit whatever the page
 * size. Tokens accrue while the caller works on a page, up to the larger of `burstSeconds` of the rate and the
 * largest take: with a smaller cap, the time spent applying a page would be lost and the rate fall short of the
 * limit by the page's share of work (measured: 0.63 of a 20,000/s limit with 4,000-event pages).
 */
export class TokenBucket {
  #rate: number | null;
  #tokens = 0;
  #last: number;
  #largestTake = 0;
  readonly #clock: Clock;
  readonly #burstSeconds: number;

  constructor(rate: number | null, clock: Clock = systemClock, burstSeconds = 0.05) {
    this.#rate = rate;
    this.#clock = clock;
    this.#burstSeconds = burstSeconds;
    this.#last = clock.now();
  }

  get rate(): number | null {
    return this.#rate;
  }

  /** A new limit (null: none) applies from now on; debt already taken is repriced at the new rate. */
  setRate(rate: number | null): void {
    if (rate === this.#rate) return;
    this.#refill();
    this.#rate = rate;
    if (rate === null) this.#tokens = 0;
  }

  #refill(): void {
    const now = this.#clock.now();
    if (this.#rate !== null) {
      const cap = Math.max(this.#rate * this.#burstSeconds, this.#largestTake);
      this.#tokens = Math.min(cap, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    }
    this.#last = now;
  }

  /** Takes `n` tokens and returns how many milliseconds the caller must wait before going on (0: go on). */
  take(n: number): number {
    if (this.#rate === null) return 0;
    this.#refill();
    this.#largestTake = Math.max(this.#largestTake, n);
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#rate) * 1000;
  }

  /** `take(n)`, then the wait. */
  async acquire(n: number): Promise<void> {
    const wait = this.take(n);
    if (wait > 0) await this.#clock.sleep(wait);
  }
}

export interface AdaptiveLimits {
  /** A page transaction slower than this counts as the database under strain. @defaultValue 250 */
  latencyMs: number;
  /** The target's lag (events behind the head) above which the replay yields to it. @defaultValue 10000 */
  lagEvents: number;
  /** Share of failed attempts among the last `window` above which the replay slows. @defaultValue 0.1 */
  errorRate: number;
  /** The slowest the replay goes, as a share of its limit. @defaultValue 0.05 */
  minFactor: number;
  /** Observations the error rate is taken over. @defaultValue 20 */
  window: number;
}

export const DEFAULT_ADAPTIVE: AdaptiveLimits = {
  latencyMs: 250,
  lagEvents: 10_000,
  errorRate: 0.1,
  minFactor: 0.05,
  window: 20,
};

export interface Observation {
  latencyMs: number;
  /** The target's lag in events; undefined when not measured this time. */
  lagEvents?: number;
  error?: boolean;
}

/**
 * Additive increase, multiplicative decrease (as TCP): each sign of strain halves the factor (down to `minFactor`),
 * each healthy page adds a tenth back (up to 1). The replay runs at `limit × factor`; without a limit it pauses
 * after each page for `pageMs × (1 / factor − 1)`, which has the same effect on its rate.
 */
export class AdaptiveRate {
  #factor = 1;
  readonly #limits: AdaptiveLimits;
  readonly #recent: boolean[] = [];
  #lastLag = 0;

  constructor(limits: Partial<AdaptiveLimits> = {}) {
    this.#limits = { ...DEFAULT_ADAPTIVE, ...limits };
  }

  get factor(): number {
    return this.#factor;
  }

  /** Records one page (or one failed attempt) and returns the new factor. */
  observe(o: Observation): number {
    const l = this.#limits;
    this.#recent.push(o.error === true);
    if (this.#recent.length > l.window) this.#recent.shift();
    if (o.lagEvents !== undefined) this.#lastLag = o.lagEvents;
    const errors = this.#recent.filter(Boolean).length / this.#recent.length;
    const strained =
      o.error === true || o.latencyMs > l.latencyMs || this.#lastLag > l.lagEvents || errors > l.errorRate;
    this.#factor = strained ? Math.max(l.minFactor, this.#factor / 2) : Math.min(1, this.#factor + 0.1);
    return this.#factor;
  }

  /** The pause after a page of `pageMs` when the replay has no rate limit. */
  pauseAfter(pageMs: number): number {
    return this.#factor >= 1 ? 0 : pageMs * (1 / this.#factor - 1);
  }
}
