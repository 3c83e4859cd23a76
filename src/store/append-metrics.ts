// The store's append metrics: how many append calls ended how, how many events they wrote, and how long they
// took. A store reports them only after `registerMetrics(registry)`: until then its append path makes no timer
// call and touches no counter (one undefined check).

import { Counter, Histogram, type Registry } from 'prom-client';
import { ErrorCodes, isEventlaneError } from '../errors.js';
import type { AppendResult } from './append.js';

/** How an append call ended: written (or found already written), refused by the expected version, or failed. */
export type AppendOutcome = 'ok' | 'conflict' | 'error';

/** The metric objects of one registry, shared by every store that reports into it (labelled by schema). */
export interface AppendMetrics {
  appends: Counter<'schema' | 'result'>;
  appendedEvents: Counter<'schema'>;
  duration: Histogram<'schema' | 'result'>;
}

/** Half a millisecond (a warm single-event append) to five seconds (a large import behind a lock). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** prom-client refuses a second metric of one name in a registry, and a process may run several stores. */
const byRegistry = new WeakMap<Registry, AppendMetrics>();

export function appendMetrics(registry: Registry): AppendMetrics {
  const existing = byRegistry.get(registry);
  if (existing !== undefined) return existing;
  const registers = [registry];
  const metrics: AppendMetrics = {
    appends: new Counter({
      name: 'eventlane_store_appends_total',
      help:
        'Append calls (store.append, handle, and appends in transactions), by result: ok (written, or already ' +
        'written by an earlier try), conflict (the expected version did not match), error (anything else).',
      labelNames: ['schema', 'result'],
      registers,
    }),
    appendedEvents: new Counter({
      name: 'eventlane_store_appended_events_total',
      help: 'Events written by append calls that succeeded (a retried append that found its events stored adds 0).',
      labelNames: ['schema'],
      registers,
    }),
    duration: new Histogram({
      name: 'eventlane_store_append_duration_seconds',
      help: 'Time of an append call, from the call to its result or error (the append statement, not the commit).',
      labelNames: ['schema', 'result'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}

/** What the store calls its append through once metrics are registered. */
export type AppendRecorder = (append: () => Promise<AppendResult>) => Promise<AppendResult>;

/** Times and counts each append into every registered set of metrics. */
export function appendRecorder(schema: string, sinks: ReadonlySet<AppendMetrics>): AppendRecorder {
  const record = (outcome: AppendOutcome, seconds: number, events: number): void => {
    for (const m of sinks) {
      m.appends.inc({ schema, result: outcome });
      m.duration.observe({ schema, result: outcome }, seconds);
      if (events > 0) m.appendedEvents.inc({ schema }, events);
    }
  };
  return (append) => {
    const started = performance.now();
    let pending: Promise<AppendResult>;
    try {
      pending = append();
    } catch (error) {
      pending = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return pending.then(
      (result) => {
        record('ok', (performance.now() - started) / 1000, result.duplicate ? 0 : result.positions.length);
        return result;
      },
      (error: unknown) => {
        const outcome = isEventlaneError(error, ErrorCodes.CONCURRENCY) ? 'conflict' : 'error';
        record(outcome, (performance.now() - started) / 1000, 0);
        throw error;
      },
    );
  };
}
