import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';
import { registerOldestTransactionMetric } from '../store/metrics.js';

/** What a relay reports to its metrics on each scrape. */
export interface RelayMetricsSource {
  readonly name: string;
  isLeader(): boolean;
  backlog(): Promise<{ events: number; oldestAgeMs: number }>;
  /** Age of the oldest open transaction on the relay's database server, in seconds (`store.health()`). */
  oldestTransactionAge(): Promise<number>;
  /** Open rows of relay parking: parked events and the events held behind them. */
  parked(): Promise<{ parked: number; held: number }>;
}

export interface RelayMetrics {
  published: Counter<'relay'>;
  errors: Counter<'relay'>;
  parked: Counter<'relay'>;
  batchSeconds: Histogram<'relay'>;
  sources: Set<RelayMetricsSource>;
}

/**
 * One set of metric objects per registry, shared by every relay of the process and labelled by relay name:
 * prom-client refuses a second metric of the same name in one registry, and a process may run several relays
 * (an active one and a standby, or one per store).
 */
const byRegistry = new WeakMap<Registry, RelayMetrics>();

export function relayMetrics(registry: Registry = defaultRegistry): RelayMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const sources = new Set<RelayMetricsSource>();
  const registers = [registry];
  const metrics: RelayMetrics = {
    sources,
    published: new Counter({
      name: 'eventlane_relay_published_events_total',
      help: 'Events the relay published and the broker acknowledged.',
      labelNames: ['relay'],
      registers,
    }),
    errors: new Counter({
      name: 'eventlane_relay_errors_total',
      help: 'Failed relay rounds (broker unreachable or refusing, database errors).',
      labelNames: ['relay'],
      registers,
    }),
    parked: new Counter({
      name: 'eventlane_relay_parked_total',
      help: 'Events the relay parked because the bus refused them for good (too large).',
      labelNames: ['relay'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'eventlane_relay_publish_batch_seconds',
      help: 'Time from handing a batch to the bus until the broker acknowledged all of it.',
      labelNames: ['relay'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  };
  new Gauge({
    name: 'eventlane_relay_leader',
    help: '1 when this process holds the relay lease, 0 when it stands by.',
    labelNames: ['relay'],
    registers,
    collect() {
      for (const s of sources) this.set({ relay: s.name }, s.isLeader() ? 1 : 0);
    },
  });
  // Both backlog gauges come from one query per relay and scrape: the registry collects metrics concurrently, so
  // each gauge asks a short-lived memo rather than rely on the other having run first.
  const memo = new WeakMap<
    RelayMetricsSource,
    { at: number; value: Promise<{ events: number; oldestAgeMs: number }> }
  >();
  const backlogOf = (s: RelayMetricsSource): Promise<{ events: number; oldestAgeMs: number }> => {
    const hit = memo.get(s);
    if (hit && performance.now() - hit.at < 1000) return hit.value;
    const value = s.backlog();
    value.catch(() => memo.delete(s));
    memo.set(s, { at: performance.now(), value });
    return value;
  };
  new Gauge({
    name: 'eventlane_relay_backlog_events',
    help: 'Committed events not yet published by the relay.',
    labelNames: ['relay'],
    registers,
    async collect() {
      for (const s of sources) {
        // A scrape must not fail because the database is briefly away; the error counter tells that story.
        const b = await backlogOf(s).catch(() => undefined);
        if (b) this.set({ relay: s.name }, b.events);
      }
    },
  });
  new Gauge({
    name: 'eventlane_relay_oldest_unpublished_age_seconds',
    help: 'Age of the oldest committed event the relay has not published yet; 0 when caught up.',
    labelNames: ['relay'],
    registers,
    async collect() {
      for (const s of sources) {
        const b = await backlogOf(s).catch(() => undefined);
        if (b) this.set({ relay: s.name }, b.oldestAgeMs / 1000);
      }
    },
  });
  registerOldestTransactionMetric(registry, async () => {
    if (sources.size === 0) return undefined;
    const ages = await Promise.all([...sources].map((s) => s.oldestTransactionAge()));
    return Math.max(...ages);
  });
  // Each parking gauge runs its own query: prom-client collects gauges concurrently, so one must not fill in the other.
  new Gauge({
    name: 'eventlane_relay_parked_events',
    help: 'Events the bus refused for good, parked until an operator retries or skips them.',
    labelNames: ['relay'],
    registers,
    async collect() {
      for (const s of sources) {
        const p = await s.parked().catch(() => undefined);
        if (p) this.set({ relay: s.name }, p.parked);
      }
    },
  });
  new Gauge({
    name: 'eventlane_relay_held_events',
    help: 'Later events of streams with a parked event, held back (in order) until it is retried or skipped.',
    labelNames: ['relay'],
    registers,
    async collect() {
      for (const s of sources) {
        const p = await s.parked().catch(() => undefined);
        if (p) this.set({ relay: s.name }, p.held);
      }
    },
  });
  byRegistry.set(registry, metrics);
  return metrics;
}
