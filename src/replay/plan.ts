import { createHash } from 'node:crypto';
import type { ReactorDefinition } from '../consumers/define.js';
import type { EventStore } from '../store/event-store.js';
import { dryRun } from './apply.js';
import { countRange, readRangePage } from './read-range.js';
import { jobIdentity, type ReplaySpec } from './spec.js';
import type { EffectSummary, ReplayPlan } from './types.js';

/** The hash of what a job covers; the token carries the resolved end so that start() replays exactly that range. */
function digest(spec: ReplaySpec): string {
  return createHash('sha256')
    .update(JSON.stringify(jobIdentity(spec)))
    .digest('base64url')
    .slice(0, 32);
}

export function previewToken(spec: ReplaySpec): string {
  return `r1.${spec.to ?? 'follow'}.${digest(spec)}`;
}

/** The end a token was planned with (`undefined` when it is not a token at all). */
export function tokenEnd(token: string): string | null | undefined {
  const m = /^r1\.(follow|\d{1,20}:\d{1,19})\.[A-Za-z0-9_-]{32}$/.exec(token);
  if (m === null) return undefined;
  return m[1] === 'follow' ? null : m[1];
}

export function tokenMatches(token: string, spec: ReplaySpec): boolean {
  return token === previewToken(spec);
}

/**
 * The preview: counts by type in the range, the consumers touched, and for reactors a dry evaluation of their
 * handlers (over at most `effectsLimit` events, then scaled up). Reads only.
 */
export async function planReplay(
  store: EventStore,
  q: string,
  spec: ReplaySpec,
  options: { threshold: number; effectsLimit: number; pageSize: number },
): Promise<ReplayPlan> {
  const counts = await countRange(store.executor, q, { ...spec, after: spec.from }, store.logArchive);
  const events = [...counts.values()].reduce((a, b) => a + b, 0);
  let effects: Record<string, EffectSummary> | null = null;
  let evaluated = 0;
  if (spec.consumer.kind === 'reactor') {
    effects = await evaluateEffects(store, q, spec, spec.consumer, options, (n) => (evaluated = n));
  }
  const estimated = effects !== null && evaluated < events;
  if (effects !== null && estimated && evaluated > 0) {
    const scale = events / evaluated;
    for (const s of Object.values(effects)) {
      s.count = Math.round(s.count * scale);
      s.alreadyPerformed = Math.round(s.alreadyPerformed * scale);
    }
  }
  return {
    kind: spec.kind,
    consumer: spec.consumer.name,
    from: spec.from,
    to: spec.to,
    events,
    byType: Object.fromEntries(counts),
    touches: spec.kind === 'dry-run' ? [] : [spec.consumer.name],
    effects,
    effectsEstimated: estimated,
    expectedMs: spec.maxEventsPerSecond === null ? null : (events / spec.maxEventsPerSecond) * 1000,
    previewRequired: events > options.threshold,
    previewToken: previewToken(spec),
  };
}

async function evaluateEffects(
  store: EventStore,
  q: string,
  spec: ReplaySpec,
  def: ReactorDefinition,
  options: { effectsLimit: number; pageSize: number },
  seen: (n: number) => void,
): Promise<Record<string, EffectSummary>> {
  const effects: Record<string, EffectSummary> = {};
  let after = spec.from;
  let n = 0;
  const contracts = store.contracts;
  while (n < options.effectsLimit) {
    const page = await readRangePage(
      store.executor,
      q,
      {
        after,
        to: spec.to,
        types: spec.types,
        streamPrefix: spec.streamPrefix,
        limit: Math.min(options.pageSize, options.effectsLimit - n),
      },
      contracts === undefined ? undefined : (e) => contracts.upcast(e),
      (events) => store.reveal(events, 'mark'),
      store.logArchive,
    );
    if (page.length === 0) break;
    await dryRun(store.executor, q, def, page, effects);
    n += page.length;
    after = page[page.length - 1]!.checkpoint;
  }
  seen(n);
  return effects;
}
