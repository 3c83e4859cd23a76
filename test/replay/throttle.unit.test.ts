import { describe, expect, it } from 'vitest';
import { AdaptiveRate, TokenBucket, type Clock } from '../../src/index.js';

/** A clock that moves only when slept on (or advanced): the throttle's waits cost no real time. */
function manualClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: (ms: number) => {
      c.t += ms;
      return Promise.resolve();
    },
  };
  return c;
}

/** Runs a replay-like loop: pages of `page` events through the bucket until `until` ms; returns events taken. */
async function drive(
  bucket: TokenBucket,
  clock: Clock & { t: number },
  page: number,
  until: number,
  workMs = 0,
): Promise<number> {
  let events = 0;
  while (clock.t < until) {
    await bucket.acquire(page);
    // Applying the page takes time too: the bucket must count it, not lose it.
    clock.t += workMs;
    events += page;
  }
  return events;
}

describe('TokenBucket under a controllable clock', () => {
  it('grants the configured rate, whatever the page size', async () => {
    for (const [page, workMs] of [
      [1, 0],
      [37, 0],
      [1000, 0],
      [4000, 0],
      [4000, 133],
      [1000, 10],
      [100, 4],
    ] as const) {
      const clock = manualClock();
      const bucket = new TokenBucket(20_000, clock);
      const events = await drive(bucket, clock, page, 10_000, workMs);
      const rate = events / (clock.t / 1000);
      expect(rate / 20_000).toBeGreaterThan(0.95);
      expect(rate / 20_000).toBeLessThan(1.05);
    }
  });

  it('a rate change applies from the next take', async () => {
    const clock = manualClock();
    const bucket = new TokenBucket(100, clock);
    const slow = await drive(bucket, clock, 10, 5000);
    bucket.setRate(1000);
    const start = clock.t;
    const fast = await drive(bucket, clock, 10, start + 5000);
    expect(slow / 5).toBeCloseTo(100, -1);
    expect(fast / ((clock.t - start) / 1000)).toBeGreaterThan(950);
    bucket.setRate(null);
    expect(bucket.take(1_000_000)).toBe(0);
  });

  it('does not bank an idle hour: at most one page goes through unpaid', () => {
    const clock = manualClock();
    const bucket = new TokenBucket(1000, clock);
    expect(bucket.take(1000)).toBe(1000);
    clock.t += 3_600_000;
    expect(bucket.take(1000)).toBe(0);
    expect(bucket.take(1000)).toBe(1000);
  });
});

describe('AdaptiveRate', () => {
  it('slows when latency or lag rises, and speeds back up when they fall', () => {
    const a = new AdaptiveRate({ latencyMs: 100, lagEvents: 1000 });
    expect(a.observe({ latencyMs: 20, lagEvents: 0 })).toBe(1);
    a.observe({ latencyMs: 400 });
    a.observe({ latencyMs: 400 });
    expect(a.factor).toBe(0.25);
    for (let i = 0; i < 20; i++) a.observe({ latencyMs: 20 });
    expect(a.factor).toBe(1);
    a.observe({ latencyMs: 20, lagEvents: 50_000 });
    expect(a.factor).toBe(0.5);
    // The lag stays high until measured again: the replay keeps yielding.
    a.observe({ latencyMs: 20 });
    expect(a.factor).toBe(0.25);
    a.observe({ latencyMs: 20, lagEvents: 10 });
    expect(a.factor).toBeCloseTo(0.35);
    expect(a.pauseAfter(100)).toBeCloseTo(100 * (1 / 0.35 - 1));
  });

  it('slows on an error rate above the limit, never below minFactor', () => {
    const a = new AdaptiveRate({ errorRate: 0.1, minFactor: 0.05, window: 10 });
    for (let i = 0; i < 12; i++) a.observe({ latencyMs: 1, error: true });
    expect(a.factor).toBe(0.05);
    // Errors still in the window keep it down.
    a.observe({ latencyMs: 1 });
    expect(a.factor).toBe(0.05);
  });

  it('throttles a token bucket: the achieved rate follows the factor', async () => {
    const clock = manualClock();
    const a = new AdaptiveRate({ latencyMs: 100 });
    const bucket = new TokenBucket(10_000, clock);
    const healthy = await drive(bucket, clock, 500, 2000);
    a.observe({ latencyMs: 500 });
    a.observe({ latencyMs: 500 });
    bucket.setRate(10_000 * a.factor);
    const start = clock.t;
    const strained = await drive(bucket, clock, 500, start + 2000);
    expect(strained).toBeLessThan(healthy / 3);
  });
});
