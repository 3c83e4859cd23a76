/**
 * What the demo prints as it goes: plain lines, progress bars for long steps (only on a terminal; one line per
 * step elsewhere), lag samples, and at the end one machine-readable line, `DEMO-SUMMARY {json}`.
 */
import cliProgress from 'cli-progress';

const tty = process.stdout.isTTY === true;
const started = Date.now();

export function say(line = ''): void {
  console.log(line);
}

export function elapsed(): string {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

export interface Progress {
  update(value: number, total?: number): void;
  stop(): void;
}

/** A bar on a terminal; elsewhere nothing until `stop`, which prints one line with the final figure. */
export function progress(label: string, total: number, unit = 'events'): Progress {
  let last = 0;
  let max = total;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: `  ${label.padEnd(34)} {bar} {value}/{total} ${unit}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(Math.max(total, 1), 0);
  return {
    update(value, newTotal) {
      last = value;
      if (newTotal !== undefined && newTotal !== max) {
        max = newTotal;
        bar?.setTotal(Math.max(newTotal, 1));
      }
      bar?.update(value);
    },
    stop() {
      bar?.stop();
      if (bar === null) say(`  ${label}: ${last}/${max} ${unit}`);
    },
  };
}

export interface LagSample {
  /** Seconds since the sampling began. */
  t: number;
  /** The most events any consumer was behind the head. */
  eventsBehind: number;
  /** The consumer that was furthest behind. */
  slowest: string;
  /** Committed events the relay had not published yet. */
  unpublished: number;
}

/** Samples lag every `everyMs` until stopped; prints a line per second when not on a terminal. */
export function sampleLag(
  read: () => Promise<Omit<LagSample, 't'>>,
  everyMs = 500,
): { stop(): Promise<LagSample[]> } {
  const samples: LagSample[] = [];
  const t0 = Date.now();
  let running = true;
  let printed = 0;
  const loop = (async () => {
    while (running) {
      try {
        const s = await read();
        const t = Math.round((Date.now() - t0) / 100) / 10;
        samples.push({ t, ...s });
        if (!tty && t - printed >= 1) {
          printed = t;
          say(
            `    lag at ${t.toFixed(1)} s: ${s.eventsBehind} events behind (${s.slowest}), ${s.unpublished} unpublished`,
          );
        }
      } catch {
        // a sample taken while a worker is being replaced: skip it
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** A compact rendering of lag over time: one figure per second (the highest sample in it). */
export function lagLine(samples: readonly LagSample[]): string {
  const perSecond = new Map<number, number>();
  for (const s of samples) {
    const second = Math.floor(s.t);
    perSecond.set(second, Math.max(perSecond.get(second) ?? 0, s.eventsBehind));
  }
  return [...perSecond.entries()].map(([t, n]) => `${t}s:${n}`).join(' ');
}

/** Every figure the demo checks, printed as one JSON line for scripts and tests. */
export interface DemoSummary {
  ok: boolean;
  failedChecks: string[];
  store: 'pglite' | 'pg';
  transport: 'log' | 'nats';
  seconds: number;
  orders: { placed: number; paid: number; shipped: number; refunded: number; legacyV1: number };
  events: { appended: number; published: number; appliedBySummary: number; readBackAfterArchive: number };
  readModels: { orderSummary: number; userBalance: number; orderSearch: number; searchHitsDhl: number };
  receipts: {
    paidOrders: number;
    sent: number;
    ordersWithoutReceipt: number;
    ordersReceiptedTwice: number;
    repeatsIgnored: number;
    lostResponses: number;
  };
  payments: { captured: number; refunded: number; failuresRetried: number; repeatsIgnored: number };
  crash: { abandonedWorker: string; takenOverBy: string; duplicatesSkipped: number };
  redelivery: { delivered: number; alreadyApplied: number };
  lag: { maxEventsBehind: number; samples: number; perSecond: string };
  parked: { parked: number; redriven: number; leftParked: number; streamFollowed: boolean };
  backfill: { balancesWrongBefore: number; reprocessed: number; balancesWrongAfter: number };
  rebuild: { version: number; driftOk: boolean; rows: number };
  dryRun: { wouldSend: number; alreadyPerformed: number; sentDuringDryRun: number };
  archive: {
    archived: number;
    segments: number;
    rebuildVersion: number;
    rebuildRows: number;
    driftOk: boolean;
  };
}
