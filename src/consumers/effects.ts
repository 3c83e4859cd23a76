import { HandlerContractError, InvalidArgumentError, LeaseLostError } from '../errors.js';
import type { StoredEvent } from '../events/envelope.js';
import { traceEffect } from '../tracing/spans.js';
import { callHandler } from './call.js';
import type { LeaseRef, Queryable } from './sql.js';

export interface EffectOutcome {
  /** True when the journal already held the effect as done: `fn` was not called. */
  replayed: boolean;
  result: unknown;
}

/** The idempotency key handed to the outside system: stable across retries, crashes and workers. */
export function idempotencyKey(consumer: string, eventId: string, effect: string): string {
  return `${consumer}:${eventId}:${effect}`;
}

/** The key of the marker recorded instead of a result JSON cannot hold. */
export const UNSERIALIZABLE = 'eventlane:unserializable';

// An escaped NUL or lone surrogate that is not itself an escaped backslash: JSON allows them, jsonb refuses them.
const JSONB_REFUSES = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * The JSON text the journal stores for an effect's result. A result JSON cannot hold (a cycle, a BigInt, a
 * throwing toJSON, a string jsonb refuses) becomes a marker with the reason. The effect has already happened, so
 * failing here would only make a retry perform it again; recording it as done with a marker, and reporting the
 * breach through onError, keeps the one-effect promise and still tells someone.
 */
function journalJson(result: unknown): { text: string; error?: string } {
  let text: string | undefined;
  try {
    text = JSON.stringify(result === undefined ? null : result);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { text: JSON.stringify({ [UNSERIALIZABLE]: reason }), error: reason };
  }
  if (text === undefined) return { text: 'null' };
  if (JSONB_REFUSES.test(text)) {
    const reason = 'it holds a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL jsonb refuses';
    return { text: JSON.stringify({ [UNSERIALIZABLE]: reason }), error: reason };
  }
  return { text };
}

/**
 * Performs one effect through the journal: records the intent ('pending'), calls `fn(key)`, records the outcome
 * ('done' with its JSON result). Each step commits on its own — the effect happens outside the database, so no
 * transaction could cover it; the key makes a repeated call after a crash harmless for a system that honours it.
 */
export async function performEffect(
  ex: Queryable,
  q: string,
  consumer: string,
  eventId: string,
  name: unknown,
  fn: unknown,
  lease: LeaseRef,
  report: (error: Error) => void = () => undefined,
  event?: StoredEvent,
): Promise<EffectOutcome> {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new InvalidArgumentError(
      `effect name must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}.`,
    );
  }
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(
      `effect(${JSON.stringify(name)}, fn): fn must be a function (idempotencyKey) => Promise, got ${typeof fn}.`,
    );
  }
  const key = idempotencyKey(consumer, eventId, name);
  return traceEffect(consumer, name, key, event, async (span) => {
    const outcome = await journaledEffect(
      ex,
      q,
      consumer,
      eventId,
      name,
      fn as (k: string) => unknown,
      key,
      lease,
      report,
    );
    span?.setAttribute('eventlane.effect.replayed', outcome.replayed);
    return outcome;
  });
}

async function journaledEffect(
  ex: Queryable,
  q: string,
  consumer: string,
  eventId: string,
  name: string,
  fn: (key: string) => unknown,
  key: string,
  lease: LeaseRef,
  report: (error: Error) => void,
): Promise<EffectOutcome> {
  // The intent is recorded only while this worker still holds the partition's lease (same round trip), so a worker
  // that lost its lease stops before calling out instead of racing the new owner.
  const [row] = await ex.query<{ status: 'pending' | 'done' | 'fenced'; result: unknown }>(
    `with fence as (
       select 1 from ${q}.partition_leases
        where group_name = $5 and partition = $6 and owner = $7 and fencing_token = $8),
     ins as (
       insert into ${q}.effect_journal as j (consumer, event_id, effect, idempotency_key, status)
       select $1, $2, $3, $4, 'pending' from fence
       on conflict (consumer, event_id, effect) do update set attempts = j.attempts + 1, started_at = now()
         where j.status = 'pending'
       returning status, result)
     select 'fenced' as status, null::jsonb as result where not exists (select 1 from fence)
     union all
     select status, result from ins
     union all
     select status, result from ${q}.effect_journal
      where consumer = $1 and event_id = $2 and effect = $3
        and exists (select 1 from fence) and not exists (select 1 from ins)`,
    [consumer, eventId, name, key, lease.group, lease.partition, lease.owner, lease.token],
  );
  if (row?.status === 'fenced') throw new LeaseLostError(lease.group, lease.partition, lease.token);
  if (row?.status === 'done') return { replayed: true, result: row.result };
  const result = await callHandler<unknown>(
    `effect ${JSON.stringify(name)} of consumer ${JSON.stringify(consumer)}`,
    () => fn(key),
  );
  const json = journalJson(result);
  if (json.error !== undefined) {
    report(
      new HandlerContractError(
        `effect ${JSON.stringify(name)} of consumer ${JSON.stringify(consumer)} returned a result that cannot be ` +
          `stored as JSON (${json.error}). The effect happened and is recorded as done, so it will not run again; ` +
          `a replay after a retry or a crash gets ${JSON.stringify({ [UNSERIALIZABLE]: '…' })} instead of the ` +
          'result. Return plain JSON (ids, receipts) from effects.',
        { consumer, eventId, effect: name, idempotencyKey: key },
      ),
    );
  }
  await ex.query(
    `update ${q}.effect_journal set status = 'done', result = $4::jsonb, completed_at = now()
      where consumer = $1 and event_id = $2 and effect = $3`,
    [consumer, eventId, name, json.text],
  );
  return { replayed: false, result };
}
