import { Gauge, type Registry } from 'prom-client';

/** Reads the age in seconds; undefined when the source has nothing to report (e.g. a relay not started). */
type AgeSource = () => Promise<number | undefined>;

/**
 * One gauge per registry, shared by every worker and relay that reports into it (prom-client refuses two metrics
 * of one name in a registry, and a process often runs a worker and a relay on the same registry).
 */
const sourcesByRegistry = new WeakMap<Registry, Set<AgeSource>>();

/**
 * Registers `eventlane_oldest_transaction_age_seconds` in `registry` (once) and adds `source` to what it reports;
 * the gauge shows the largest age any source reads. Returns a function that removes the source again.
 */
export function registerOldestTransactionMetric(registry: Registry, source: AgeSource): () => void {
  let sources = sourcesByRegistry.get(registry);
  if (sources === undefined) {
    const all = new Set<AgeSource>();
    sources = all;
    sourcesByRegistry.set(registry, all);
    new Gauge({
      name: 'eventlane_oldest_transaction_age_seconds',
      help:
        'Age of the oldest transaction open on the database server (holding an xid or snapshot, prepared ones ' +
        'included). Log readers wait behind it: a high value explains lag everywhere.',
      registers: [registry],
      async collect() {
        if (all.size === 0) return;
        // A scrape must not fail while the database is briefly away (or a store was closed); the series disappears
        // instead of lying.
        const ages = await Promise.all(
          [...all].map((s) =>
            Promise.resolve()
              .then(s)
              .catch(() => undefined),
          ),
        );
        const known = ages.filter((a): a is number => a !== undefined);
        if (known.length === 0) this.reset();
        else this.set(Math.max(...known));
      },
    });
  }
  sources.add(source);
  const added = sources;
  return () => {
    added.delete(source);
  };
}
