import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BEHIND_MAX_WAIT_MS, BehindStreams, BUS_IDLE_MS } from '../../src/consumers/behind-streams.js';

describe('BehindStreams: what a bus-mode lane reads from the store after taking a partition', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());
  const noted = () => {
    const behind = new BehindStreams();
    behind.note(
      [
        { stream: 'a', version: 3 },
        { stream: 'b', version: 5 },
        { stream: 'blocked', version: 1 },
      ],
      (stream) => stream === 'blocked',
    );
    return behind;
  };

  it('waits for the bus to be quiet, then hands over what the bus did not bring', () => {
    const behind = noted();
    const t0 = Date.now();
    expect(behind.due(t0 + BUS_IDLE_MS - 1, 0)).toEqual({ streams: [], nextAt: t0 + BUS_IDLE_MS });
    behind.passed('a', 2); // not yet at its version
    behind.passed('b', 5); // brought to its version by the bus
    expect(behind.due(t0 + BUS_IDLE_MS, 0)).toEqual({ streams: ['a'], nextAt: Infinity });
    // Handed over once: nothing is due again.
    expect(behind.due(t0 + 10 * BUS_IDLE_MS, 0).streams).toEqual([]);
  });

  it('a delivery or a queued one restarts the quiet period', () => {
    const behind = noted();
    const t0 = Date.now();
    behind.delivered(t0 + 800);
    expect(behind.due(t0 + BUS_IDLE_MS, 0).streams).toEqual([]);
    expect(behind.due(t0 + 800 + BUS_IDLE_MS - 1, 7).streams).toEqual([]); // 7 queued: busy
    expect(behind.due(t0 + 800 + 2 * BUS_IDLE_MS - 2, 0).streams).toEqual([]);
    expect(behind.due(t0 + 800 + 2 * BUS_IDLE_MS - 1, 0).streams).toEqual(['a', 'b']);
  });

  it('a batch applied for longer than the quiet period does not make the bus look quiet', () => {
    const behind = noted();
    const t0 = Date.now();
    behind.delivered(t0); // the lane's window is full: the bus sends nothing until the batch is acknowledged
    behind.passed('other', 1, t0 + 3 * BUS_IDLE_MS); // committed and acknowledged 3 s later
    expect(behind.due(t0 + 3 * BUS_IDLE_MS + 10, 0).streams).toEqual([]);
    expect(behind.due(t0 + 4 * BUS_IDLE_MS, 0).streams).toEqual(['a', 'b']);
  });

  it('on a bus that never falls quiet, hands over after BEHIND_MAX_WAIT_MS', () => {
    const behind = noted();
    const t0 = Date.now();
    for (let t = t0; t < t0 + BEHIND_MAX_WAIT_MS; t += 100) {
      behind.delivered(t);
      expect(behind.due(t, 1).streams).toEqual([]);
    }
    expect(behind.due(t0 + BEHIND_MAX_WAIT_MS, 1).streams).toEqual(['a', 'b']);
  });
});
