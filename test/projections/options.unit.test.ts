import { describe, expect, it } from 'vitest';
import { createProjections, ErrorCodes, type EventStore } from '../../src/index.js';
import { summary } from './fixtures/model.js';

// Options are checked when createProjections is called, before anything touches the database.
const store = { schema: 'eventlane', executor: {} } as unknown as EventStore;

function codeOf(options: Record<string, unknown>): unknown {
  try {
    createProjections(store, { projections: [summary(1)], ...options });
    return null;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('createProjections failure-handling options', () => {
  it.each([
    { retry: { maxAttempts: 0 } },
    { retry: { jitter: 2 } },
    { retry: { attempts: 3 } },
    { breaker: { threshold: -1 } },
    { breaker: 'off' },
    { parkedPollMs: 5 },
    { parkedPollMs: 2 ** 31 },
    { parkedPollMs: 1.5 },
    { onError: 'log' },
  ])('refuses %j with a typed error', (options) => {
    expect(codeOf(options)).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it('accepts the documented ones', () => {
    expect(
      codeOf({
        retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100, jitter: 0 },
        breaker: { threshold: 5, windowMs: 1000, coolDownMs: 1000 },
        parkedPollMs: 100,
        onError: () => undefined,
      }),
    ).toBeNull();
  });
});
