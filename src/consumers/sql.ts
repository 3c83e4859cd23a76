// The consumer runtime's SQL, one function per statement. Table names come from the store's quoted schema;
// every value is a parameter.

import { LeaseLostError } from '../errors.js';
import type { QueryOptions } from '../store/drivers/driver.js';
import { EVENT_COLUMNS, type EventRow } from '../store/read.js';

export interface Queryable {
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]>;
}

/** The statements of every batch: parsed and planned once per connection (see QueryOptions). */
const PREPARED: QueryOptions = { prepare: true };

export interface LeaseRef {
  group: string;
  partition: number;
  owner: string;
  token: number;
}

/**
 * Makes the order guard's row of each stream exist (position 0, which reads as "nothing applied", as no row does),
 * in sorted order, so that a stream the consumer never applied also has a row to lock: whoever applies its first
 * events (a worker, a backfill) then locks it, and the other waits. Inserting a row another transaction inserted
 * and has not committed waits for that transaction.
 */
export async function ensurePositions(
  ex: Queryable,
  q: string,
  consumer: string,
  streams: readonly string[],
): Promise<void> {
  if (streams.length === 0) return;
  await ex.query(
    `insert into ${q}.consumer_streams (consumer, stream, position)
     select $1, s, 0 from unnest($2::text[]) as s order by s
     on conflict (consumer, stream) do nothing`,
    [consumer, streams],
    PREPARED,
  );
}

export async function loadPositions(
  ex: Queryable,
  q: string,
  consumer: string,
  streams: readonly string[],
  lock: boolean,
): Promise<Map<string, number>> {
  if (lock) await ensurePositions(ex, q, consumer, streams);
  const rows = await ex.query<{ stream: string; position: string }>(
    `select stream, position from ${q}.consumer_streams where consumer = $1 and stream = any($2::text[])
      ${lock ? 'order by stream for update' : ''}`,
    [consumer, streams],
    PREPARED,
  );
  return new Map(rows.map((r) => [r.stream, Number(r.position)]));
}

export async function loadPosition(
  ex: Queryable,
  q: string,
  consumer: string,
  stream: string,
): Promise<number> {
  const [row] = await ex.query<{ position: string }>(
    `select position from ${q}.consumer_streams where consumer = $1 and stream = $2`,
    [consumer, stream],
  );
  return row ? Number(row.position) : 0;
}

export async function loadCheckpoint(
  ex: Queryable,
  q: string,
  consumer: string,
  partition: number,
): Promise<string | null> {
  const [row] = await ex.query<{ checkpoint: string }>(
    `select checkpoint from ${q}.consumer_checkpoints where consumer = $1 and partition = $2`,
    [consumer, partition],
  );
  return row ? row.checkpoint : null;
}

export interface FailureRow {
  id: string;
  consumer: string;
  partition: number;
  stream: string;
  stream_position: string;
  event_id: string;
  /** 'skipped' and 'resolved' rows are loaded only while their stream is not caught up yet. */
  status: 'retrying' | 'parked' | 'skipped' | 'resolved';
  attempts: number;
  next_attempt_at: Date | null;
}

export interface FailureInput {
  consumer: string;
  partition: number;
  stream: string;
  streamPosition: number;
  eventId: string;
  eventType: string;
  error: string;
  errorCode: string | null;
  stack: string | null;
  maxAttempts: number;
  /** Delay before the next attempt for each attempt count (1-based). */
  delayMs: (attempt: number) => number;
}

/**
 * Records a failed attempt: a new 'retrying' row, or one more attempt on the stream's active row; at the limit the
 * row becomes 'parked'. The backoff delay is computed here from the stored attempt count, so it survives restarts.
 */
export async function recordFailure(ex: Queryable, q: string, f: FailureInput): Promise<FailureRow> {
  const [current] = await ex.query<{ attempts: number; event_id: string }>(
    `select attempts, event_id from ${q}.parked_events
      where consumer = $1 and stream = $2 and status in ('retrying', 'parked') for update`,
    [f.consumer, f.stream],
  );
  const attempts = current && current.event_id === f.eventId ? current.attempts + 1 : 1;
  const parked = attempts >= f.maxAttempts;
  const delay = parked ? null : f.delayMs(attempts);
  const params = [
    f.consumer,
    f.partition,
    f.stream,
    f.streamPosition,
    f.eventId,
    f.eventType,
    parked ? 'parked' : 'retrying',
    f.error,
    f.errorCode,
    f.stack,
    attempts,
    delay,
  ];
  const columns =
    'id, consumer, partition, stream, stream_position, event_id, status, attempts, next_attempt_at';
  if (current) {
    const [row] = await ex.query<FailureRow>(
      `update ${q}.parked_events set partition = $2, stream_position = $4, event_id = $5, event_type = $6, status = $7,
              error = $8, error_code = $9, stack = $10, attempts = $11, last_failed_at = now(),
              first_failed_at = case when event_id = $5 then first_failed_at else now() end,
              next_attempt_at = case when $12::float8 is null then null else clock_timestamp() + $12::float8 * interval '1 millisecond' end,
              parked_at = case when $7 = 'parked' then now() else null end
        where consumer = $1 and stream = $3 and status in ('retrying', 'parked')
        returning ${columns}`,
      params,
    );
    return row!;
  }
  const [row] = await ex.query<FailureRow>(
    `insert into ${q}.parked_events (consumer, partition, stream, stream_position, event_id, event_type, status,
            error, error_code, stack, attempts, next_attempt_at, parked_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
             case when $12::float8 is null then null else clock_timestamp() + $12::float8 * interval '1 millisecond' end,
             case when $7 = 'parked' then now() else null end)
     returning ${columns}`,
    params,
  );
  return row!;
}

/** Marks rows resolved (when still failing) and their streams caught up. */
const RESOLVE_SET = `status = case when status in ('retrying', 'parked') then 'resolved' else status end,
       resolved_at = case when status in ('retrying', 'parked') then now() else resolved_at end,
       caught_up_at = now()`;

export async function resolveFailures(ex: Queryable, q: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await ex.query(`update ${q}.parked_events set ${RESOLVE_SET} where id = any($1::bigint[])`, [ids]);
}

export async function loadActiveFailures(
  ex: Queryable,
  q: string,
  consumers: readonly string[],
  partitions: readonly number[],
): Promise<FailureRow[]> {
  return ex.query<FailureRow>(
    `select id, consumer, partition, stream, stream_position, event_id, status, attempts, next_attempt_at
       from ${q}.parked_events
      where consumer = any($1::text[]) and partition = any($2::int[])
        and (status in ('retrying', 'parked') or caught_up_at is null)`,
    [consumers, partitions],
  );
}

/**
 * The fence and the order guard's positions (projections: at the start of the transaction), in one statement: the
 * fence is locked, then each stream's guard row is made to exist and locked, in stream order (an upsert that
 * changes nothing: a row another transaction inserted and has not committed is waited for, an existing one is
 * locked as FOR UPDATE would, and both return the position). Both row locks are held until commit. The fence is a
 * KEY SHARE lock: it blocks a takeover (which locks the lease FOR UPDATE, src/consumers/leases.ts) until the batch
 * commits, but not the owner's own heartbeat, which must not wait for a slow batch or the lease would look expired
 * to the other workers. Without the fence nothing is written and the lease is reported lost.
 */
export async function fenceAndLoadPositions(
  ex: Queryable,
  q: string,
  lease: LeaseRef,
  consumer: string,
  streams: readonly string[],
): Promise<Map<string, number>> {
  const [row] = await ex.query<{ fenced: number; positions: [string, string | number][] | null }>(
    `with fence as (
       select 1 from ${q}.partition_leases
        where group_name = $1 and partition = $2 and owner = $3 and fencing_token = $4 for key share),
     guard as (
       insert into ${q}.consumer_streams as c (consumer, stream, position)
       select $5, s, 0 from unnest($6::text[]) as s where exists (select 1 from fence) order by s
       on conflict (consumer, stream) do update set position = c.position
       returning c.stream, c.position)
     select (select count(*) from fence)::int as fenced,
            (select json_agg(json_build_array(g.stream, g.position)) from guard g) as positions`,
    [lease.group, lease.partition, lease.owner, lease.token, consumer, streams],
    PREPARED,
  );
  if (!row || row.fenced === 0) throw new LeaseLostError(lease.group, lease.partition, lease.token);
  return new Map((row.positions ?? []).map(([s, p]) => [s, Number(p)]));
}

/**
 * The order guard's new positions, the checkpoint and resolved failures in one statement. With `lease`, every write
 * is conditional on the fence (checked under a share lock in the same statement) and a lost lease throws.
 */
export async function saveProgress(
  ex: Queryable,
  q: string,
  p: {
    consumer: string;
    partition: number;
    positions: Map<string, number>;
    checkpoint: string | null;
    resolved: readonly string[];
    lease: LeaseRef | null;
  },
): Promise<void> {
  const fence = p.lease
    ? `select 1 from ${q}.partition_leases
        where group_name = $7 and partition = $2 and owner = $8 and fencing_token = $9 for key share`
    : 'select 1';
  const [row] = await ex.query<{ fenced: number }>(
    `with fence as (${fence}),
     pos as (
       insert into ${q}.consumer_streams as c (consumer, stream, position)
       select $1, s, v from unnest($3::text[], $4::bigint[]) as x(s, v) where exists (select 1 from fence)
       on conflict (consumer, stream) do update set position = excluded.position, updated_at = now()
         where c.position < excluded.position),
     cp as (
       insert into ${q}.consumer_checkpoints (consumer, partition, checkpoint)
       select $1, $2, $5 where $5::text is not null and exists (select 1 from fence)
       on conflict (consumer, partition) do update set checkpoint = excluded.checkpoint, updated_at = now()),
     res as (
       update ${q}.parked_events set ${RESOLVE_SET}
        where id = any($6::bigint[]) and exists (select 1 from fence))
     select (select count(*) from fence)::int as fenced`,
    [
      p.consumer,
      p.partition,
      [...p.positions.keys()],
      [...p.positions.values()],
      p.checkpoint,
      p.resolved,
      ...(p.lease ? [p.lease.group, p.lease.owner, p.lease.token] : []),
    ],
    PREPARED,
  );
  if (p.lease && (!row || row.fenced === 0))
    throw new LeaseLostError(p.lease.group, p.lease.partition, p.lease.token);
}

/** Bus mode: the events a batch of deliveries names, as the store holds them (raw rows, not upcast). */
export async function loadEventsById(ex: Queryable, q: string, ids: readonly string[]): Promise<EventRow[]> {
  if (ids.length === 0) return [];
  return ex.query<EventRow>(
    `select ${EVENT_COLUMNS} from ${q}.events where id = any($1::uuid[])`,
    [ids],
    PREPARED,
  );
}

/**
 * Bus mode: streams this consumer has not applied to their end (version above its position), a page in stream
 * order after `after`. Reads every stream row (like the lag figures): used when a worker takes partitions.
 */
export async function loadStreamsBehind(
  ex: Queryable,
  q: string,
  consumer: string,
  after: string | null,
  limit: number,
): Promise<{ stream: string; version: number }[]> {
  const rows = await ex.query<{ stream: string; version: string }>(
    `select s.stream, s.version::text as version from ${q}.streams s
       left join ${q}.consumer_streams c on c.consumer = $1 and c.stream = s.stream
      where s.version > coalesce(c.position, 0) and ($2::text is null or s.stream > $2)
      order by s.stream limit $3`,
    [consumer, after, limit],
  );
  return rows.map((r) => ({ stream: r.stream, version: Number(r.version) }));
}

/**
 * Bus mode: a delivery this worker could not take (its partition is being handed over) was acknowledged; a
 * 'resolved' row not yet caught up makes the partition's owner read the stream from the store (see
 * loadActiveFailures). One open marker per consumer and stream is enough.
 */
export async function markForCatchUp(
  ex: Queryable,
  q: string,
  m: {
    consumer: string;
    partition: number;
    stream: string;
    streamPosition: number;
    eventId: string;
    eventType: string;
  },
): Promise<void> {
  await ex.query(
    `insert into ${q}.parked_events (consumer, partition, stream, stream_position, event_id, event_type, status,
            error, attempts, resolved_at)
     select $1, $2, $3, $4, $5, $6, 'resolved', $7, 0, now()
      where not exists (select 1 from ${q}.parked_events
                         where consumer = $1 and stream = $3 and caught_up_at is null)`,
    [
      m.consumer,
      m.partition,
      m.stream,
      m.streamPosition,
      m.eventId,
      m.eventType,
      'Delivered while the partition was changing owner: acknowledged, to be read from the store by its owner.',
    ],
  );
}
