import { Counter, Gauge, Registry } from 'prom-client';
import { breakerStateValue, type Breaker } from './breaker.js';
import type { LagFigures } from './health.js';
import type { ConsumerStats } from './stats.js';
import { registerOldestTransactionMetric } from '../store/metrics.js';

export interface MetricsSource {
  consumers: readonly { name: string; stats: ConsumerStats; breaker: Breaker }[];
  lag(consumer: string): Promise<LagFigures>;
  partitionsOwned(): number;
  /** Age in seconds of the oldest open transaction on the database server (see `store.health()`). */
  oldestTransactionAge(): Promise<number>;
}

/**
 * The worker's prom-client metrics. Counters follow the in-memory stats (so a scrape never slows processing);
 * lag and parked counts are read from the database at scrape time.
 */
export function registerMetrics(registry: Registry, source: MetricsSource): void {
  const reported = new Map<string, number>();
  const events = new Counter({
    name: 'eventlane_consumer_events_total',
    help: 'Events handled by a consumer, by outcome (applied, duplicate, failed, retried).',
    labelNames: ['consumer', 'outcome'],
    registers: [registry],
    collect() {
      for (const c of source.consumers) {
        const figures = {
          applied: c.stats.applied,
          duplicate: c.stats.duplicates,
          failed: c.stats.failures,
          retried: c.stats.retries,
        };
        for (const [outcome, value] of Object.entries(figures)) {
          const key = `${c.name}\u0000${outcome}`;
          const delta = value - (reported.get(key) ?? 0);
          if (delta > 0) events.inc({ consumer: c.name, outcome }, delta);
          reported.set(key, value);
        }
      }
    },
  });
  new Gauge({
    name: 'eventlane_consumer_breaker_state',
    help: 'Retry-storm breaker of a consumer: 0 closed, 1 half-open (probing), 2 open (paused).',
    labelNames: ['consumer'],
    registers: [registry],
    collect() {
      for (const c of source.consumers) this.set({ consumer: c.name }, breakerStateValue(c.breaker.state));
    },
  });
  const opened = new Map<string, number>();
  const breakerOpened = new Counter({
    name: 'eventlane_consumer_breaker_opened_total',
    help: 'Times the retry-storm breaker of a consumer opened (paused the consumer for its cool-down).',
    labelNames: ['consumer'],
    registers: [registry],
    collect() {
      for (const c of source.consumers) {
        // inc(0) makes the series visible at 0 before the first opening, so rate() and alerts see it start.
        breakerOpened.inc({ consumer: c.name }, c.breaker.opened - (opened.get(c.name) ?? 0));
        opened.set(c.name, c.breaker.opened);
      }
    },
  });
  new Gauge({
    name: 'eventlane_consumer_throughput_events_per_second',
    help: 'Events applied per second by a consumer in this worker, over the last 10 seconds.',
    labelNames: ['consumer'],
    registers: [registry],
    collect() {
      for (const c of source.consumers) this.set({ consumer: c.name }, c.stats.throughput());
    },
  });
  new Gauge({
    name: 'eventlane_consumer_error_rate',
    help: 'Failed attempts / (applied + failed) of a consumer in this worker over the last minute.',
    labelNames: ['consumer'],
    registers: [registry],
    collect() {
      for (const c of source.consumers) this.set({ consumer: c.name }, c.stats.errorRate());
    },
  });
  new Gauge({
    name: 'eventlane_worker_partitions_owned',
    help: 'Partitions this worker holds a lease on.',
    registers: [registry],
    collect() {
      this.set(source.partitionsOwned());
    },
  });
  // The three database-backed gauges come from one read per scrape. prom-client calls every collect() at once at
  // the start of a scrape, so they share the read while it is in flight; a later scrape starts a new one. Setting
  // one gauge from inside another's collect would show nothing on the first scrape and stale values after it.
  let inFlight: Promise<Map<string, LagFigures>> | undefined;
  const lagNow = (): Promise<Map<string, LagFigures>> => {
    if (inFlight) return inFlight;
    const read = (async () => {
      const out = new Map<string, LagFigures>();
      for (const c of source.consumers) out.set(c.name, await source.lag(c.name));
      return out;
    })();
    inFlight = read;
    const clear = (): void => {
      if (inFlight === read) inFlight = undefined;
    };
    read.then(clear, clear);
    return read;
  };
  const lagGauge = (name: string, help: string, pick: (lag: LagFigures) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['consumer'],
      registers: [registry],
      async collect() {
        // A scrape must not fail while the database is briefly away, nor show old figures as current: the
        // series disappear until the next successful read.
        const lag = await lagNow().catch(() => undefined);
        if (lag === undefined) {
          this.reset();
          return;
        }
        for (const [consumer, figures] of lag) this.set({ consumer }, pick(figures));
      },
    });
  };
  lagGauge(
    'eventlane_consumer_lag_events',
    'Events appended but not yet applied by a consumer.',
    (l) => l.eventsBehind,
  );
  lagGauge(
    'eventlane_consumer_lag_seconds',
    'Age of the oldest event a consumer has not applied yet; 0 when caught up.',
    (l) => l.secondsBehind,
  );
  lagGauge(
    'eventlane_consumer_parked_events',
    'Events parked for a consumer, waiting for an operator to retry or skip them.',
    (l) => l.parked,
  );
  registerOldestTransactionMetric(registry, () => source.oldestTransactionAge());
}

/** Bus deliveries a consumer set aside because the store does not hold the event they name (see verify.ts). */
export function registerRejectedMetric(
  registry: Registry,
  consumers: readonly { name: string; stats: ConsumerStats }[],
): void {
  const reported = new Map<string, number>();
  const rejected = new Counter({
    name: 'eventlane_consumer_rejected_total',
    help: 'Bus deliveries acknowledged and not applied: the store holds no such event (reason unknown_event), holds it at another stream or position (wrong_position), or with other data (other_content).',
    labelNames: ['consumer', 'reason'],
    registers: [registry],
    collect() {
      for (const c of consumers) {
        for (const [reason, value] of c.stats.rejected) {
          const key = `${c.name}\u0000${reason}`;
          const delta = value - (reported.get(key) ?? 0);
          if (delta > 0) rejected.inc({ consumer: c.name, reason }, delta);
          reported.set(key, value);
        }
      }
    },
  });
}

export function newRegistry(): Registry {
  return new Registry();
}
