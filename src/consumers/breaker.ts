/**
 * The retry-storm breaker of one consumer. Failures are counted in a sliding window; past the threshold the
 * breaker opens and the consumer's lanes pause for the cool-down. Then it is half-open: one lane at a time may
 * run one probe step; a success closes the breaker, a failure opens it again for another cool-down. A broken
 * dependency therefore sees about one call per cool-down instead of a call per event per retry.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Failures within `windowMs` that open the breaker. @defaultValue 50 */
  threshold: number;
  /** The sliding window failures are counted in. @defaultValue 10000 */
  windowMs: number;
  /** How long the consumer pauses once open, before a probe. @defaultValue 30000 */
  coolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { threshold: 50, windowMs: 10_000, coolDownMs: 30_000 };

export class Breaker {
  readonly #options: BreakerOptions;
  #failures: number[] = [];
  #state: BreakerState = 'closed';
  #openUntil = 0;
  #probing = false;
  /** How many times it opened; exported as `eventlane_consumer_breaker_opened_total`. */
  opened = 0;

  constructor(
    options: BreakerOptions,
    readonly now: () => number = Date.now,
  ) {
    this.#options = options;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.now() >= this.#openUntil) this.#state = 'half-open';
    return this.#state;
  }

  /** Milliseconds until a step may run; 0 when it may run now. Takes the probe slot when half-open. */
  acquire(): number {
    const state = this.state;
    if (state === 'closed') return 0;
    if (state === 'open') return Math.max(1, this.#openUntil - this.now());
    if (this.#probing) return Math.min(100, this.#options.coolDownMs);
    this.#probing = true;
    return 0;
  }

  /** True when the step that just ran was the probe (only one step runs while half-open). */
  get probing(): boolean {
    return this.#probing;
  }

  success(): void {
    if (this.#probing) {
      this.#probing = false;
      this.#state = 'closed';
      this.#failures = [];
    }
  }

  failure(): void {
    const now = this.now();
    if (this.#probing) {
      this.#probing = false;
      this.#open(now);
      return;
    }
    this.#failures.push(now);
    const since = now - this.#options.windowMs;
    while (this.#failures.length > 0 && this.#failures[0]! < since) this.#failures.shift();
    if (this.#state === 'closed' && this.#failures.length >= this.#options.threshold) this.#open(now);
  }

  /** A step that ran without calling a handler (only duplicates) releases the probe slot without deciding. */
  release(): void {
    this.#probing = false;
  }

  #open(now: number): void {
    this.#state = 'open';
    this.#openUntil = now + this.#options.coolDownMs;
    this.#failures = [];
    this.opened++;
  }
}

export function breakerStateValue(state: BreakerState): number {
  return state === 'closed' ? 0 : state === 'half-open' ? 1 : 2;
}
