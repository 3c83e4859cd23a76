/** The public shapes of replay jobs. */

export type ReplayKind = 'rebuild' | 'backfill' | 'dry-run' | 'reactor-replay';
export type ReplayState = 'queued' | 'running' | 'paused' | 'cancelled' | 'completed' | 'failed';

/** A bound of a replay's range: a log checkpoint (`"812:40411"`, as events and heads carry) or a time. */
export type RangeBound = string | Date;

export interface ReplayOptions {
  /**
   * - `backfill`: a range into a live projection (handler-only, run by `createWorker`, or versioned, run by
   *   `createProjections`); the order guard makes what was applied a no-op; `reprocess` re-applies it.
   * - `rebuild`: the building version of a versioned projection, from its own checkpoint to the head.
   * - `dry-run`: a reactor's handlers with effects recorded, never performed.
   * - `reactor-replay`: a reactor live (needs `allowEffects: true`); effects the journal holds as done are skipped.
   */
  kind: ReplayKind;
  /** The consumer's name, as given to `createReplay({ consumers })`. */
  consumer: string;
  /** Start after this checkpoint, or at the first event recorded at or after this time. @defaultValue the log's start */
  from?: RangeBound;
  /** End at this checkpoint (inclusive), or at the last event recorded at or before this time. @defaultValue the head at plan/start */
  to?: RangeBound;
  /** Catch up, then go on with new events until paused or cancelled (no end). @defaultValue false */
  follow?: boolean;
  /** Only events of these types. Read through the (type, commit order) index: sparse types stay fast. */
  types?: readonly string[];
  /** Only events of streams whose name starts with this. */
  streamPrefix?: string;
  /** Backfills of projections: run the handlers again for events the consumer already applied. @defaultValue false */
  reprocess?: boolean;
  /** At most this many events per second (> 0, finite); changeable while the job runs. @defaultValue no limit */
  maxEventsPerSecond?: number;
  /**
   * Pages applied at once (1–64), each in its own transaction, split by stream so per-stream order holds. Only for
   * backfills of handler-only projections and live reactor replays, whose order guard or effect journal makes a page
   * applied twice after a crash harmless. @defaultValue 1
   */
  concurrency?: number;
  /** Slow down when the database's latency, the target's lag or the error rate rises; speed back up after. @defaultValue false */
  adaptive?: boolean;
  /** Required for `reactor-replay`: the operator's explicit yes to performing effects not journaled yet. */
  allowEffects?: boolean;
}

export interface StartOptions extends ReplayOptions {
  /** The `previewToken` of a `plan()` with the same options; required above the preview threshold. */
  previewToken?: string;
  /**
   * Write the job as 'queued' and return without running it; `resume(id)` runs it, here or in another process.
   * @defaultValue false (the job runs in this process at once)
   */
  detached?: boolean;
}

export interface EffectSummary {
  /** Effects of this name the handlers asked for over the range. */
  count: number;
  /** Of those, how many the effect journal holds as done (a live replay skips them). */
  alreadyPerformed: number;
  /** Live replays: effects performed by this job. */
  ran: number;
  /** A few of them: event, stream and the idempotency key the outside system would get. */
  samples: { eventId: string; eventType: string; stream: string; idempotencyKey: string }[];
}

export interface ReplayReport {
  /** Events the consumer had applied already (no-op by the order guard or checkpoint). */
  alreadyApplied: number;
  /** Events applied again (`reprocess`). */
  reprocessed: number;
  /** Events of other streams' gaps read from the store and applied first (per-entity order before the filter). */
  gapFilled: number;
  /** Events left alone because their stream is stopped at a parked event of the consumer. */
  blocked: number;
  /** Events a versioned projection has not reached yet: its runner applies them. */
  leftToRunner: number;
  /** Reactors: effects by name. */
  effects: Record<string, EffectSummary>;
  /** The error a failed job stopped at. */
  error?: { message: string; eventId?: string; eventType?: string; stream?: string; streamPosition?: number };
}

export interface ReplayPlan {
  kind: ReplayKind;
  consumer: string;
  /** The range as resolved: after `from`, up to and including `to` (null: follow). */
  from: string;
  to: string | null;
  /** Events in the range (after the filter). */
  events: number;
  byType: Record<string, number>;
  /** Consumers the job writes to (a dry run touches none). */
  touches: string[];
  /** Reactors: the effects the handlers would ask for (dry evaluation), by name. */
  effects: Record<string, EffectSummary> | null;
  /** True when `effects` was evaluated on the first `planEffectsLimit` events and scaled up. */
  effectsEstimated: boolean;
  /** At the chosen rate; null without a rate. */
  expectedMs: number | null;
  /** Whether start() needs the token (events above the threshold). */
  previewRequired: boolean;
  /** Pass to start() with the same options. */
  previewToken: string;
}

export interface ReplayJob {
  id: string;
  kind: ReplayKind;
  consumer: string;
  state: ReplayState;
  from: string;
  to: string | null;
  types: string[] | null;
  streamPrefix: string | null;
  reprocess: boolean;
  maxEventsPerSecond: number | null;
  concurrency: number;
  adaptive: boolean;
  /** Where the job's committed work ends: it resumes after this. */
  checkpoint: string;
  done: number;
  total: number;
  applied: number;
  skipped: number;
  /** Events per second since the job's current run started (this process's figure when it runs here). */
  rate: number;
  /** Estimated milliseconds to the end; null when unknown (no rate yet, or following). */
  etaMs: number | null;
  report: ReplayReport;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  updatedAt: Date;
  finishedAt: Date | null;
}

export function emptyReport(): ReplayReport {
  return { alreadyApplied: 0, reprocessed: 0, gapFilled: 0, blocked: 0, leftToRunner: 0, effects: {} };
}
