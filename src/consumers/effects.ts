import { InvalidArgumentError, LeaseLostError } from '../errors.js';
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
    () => (fn as (k: string) => unknown)(key),
  );
  let json: string;
  try {
    json = JSON.stringify(result === undefined ? null : result);
  } catch {
    json = 'null';
  }
  await ex.query(
    `update ${q}.effect_journal set status = 'done', result = $4::jsonb, completed_at = now()
      where consumer = $1 and event_id = $2 and effect = $3`,
    [consumer, eventId, name, json],
  );
  return { replayed: false, result };
}
