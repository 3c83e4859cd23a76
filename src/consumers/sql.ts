// The consumer runtime's SQL, one function per statement. Table names come from the store's quoted schema;
// every value is a parameter.

import { LeaseLostError } from '../errors.js';

export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface LeaseRef {
  group: string;
  partition: number;
  owner: string;
  token: number;
}

/**
 * Checks, under a share lock held until commit, that this worker still owns the partition with this token.
 * A takeover (which updates the row) waits for our commit, and our later transactions see the new owner and fail.
 */
export async function checkFence(ex: Queryable, q: string, lease: LeaseRef): Promise<void> {
  const rows = await ex.query(
    `select 1 from ${q}.partition_leases
      where group_name = $1 and partition = $2 and owner = $3 and fencing_token = $4 for share`,
    [lease.group, lease.partition, lease.owner, lease.token],
  );
  if (rows.length === 0) throw new LeaseLostError(lease.group, lease.partition, lease.token);
}

export async function loadPositions(
  ex: Queryable,
  q: string,
  consumer: string,
  streams: readonly string[],
  lock: boolean,
): Promise<Map<string, number>> {
  const rows = await ex.query<{ stream: string; position: string }>(
    `select stream, position from ${q}.consumer_streams where consumer = $1 and stream = any($2::text[])
      ${lock ? 'for update' : ''}`,
    [consumer, streams],
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

/** Positions only move forward, even if two writers raced (they cannot while the fence holds). */
export async function savePositions(
  ex: Queryable,
  q: string,
  consumer: string,
  positions: Map<string, number>,
): Promise<void> {
  if (positions.size === 0) return;
  await ex.query(
    `insert into ${q}.consumer_streams as c (consumer, stream, position)
     select $1, s, p from unnest($2::text[], $3::bigint[]) as x(s, p)
     on conflict (consumer, stream) do update set position = excluded.position, updated_at = now()
       where c.position < excluded.position`,
    [consumer, [...positions.keys()], [...positions.values()]],
  );
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

export async function saveCheckpoint(
  ex: Queryable,
  q: string,
  consumer: string,
  partition: number,
  checkpoint: string,
): Promise<void> {
  await ex.query(
    `insert into ${q}.consumer_checkpoints (consumer, partition, checkpoint) values ($1, $2, $3)
     on conflict (consumer, partition) do update set checkpoint = excluded.checkpoint, updated_at = now()`,
    [consumer, partition, checkpoint],
  );
}

export interface FailureRow {
  id: string;
  consumer: string;
  partition: number;
  stream: string;
  stream_position: string;
  event_id: string;
  status: 'retrying' | 'parked';
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
              next_attempt_at = case when $12::float8 is null then null else now() + $12::float8 * interval '1 millisecond' end,
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
             case when $12::float8 is null then null else now() + $12::float8 * interval '1 millisecond' end,
             case when $7 = 'parked' then now() else null end)
     returning ${columns}`,
    params,
  );
  return row!;
}

export async function resolveFailures(ex: Queryable, q: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await ex.query(
    `update ${q}.parked_events set status = 'resolved', resolved_at = now()
      where id = any($1::bigint[]) and status in ('retrying', 'parked')`,
    [ids],
  );
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
      where consumer = any($1::text[]) and partition = any($2::int[]) and status in ('retrying', 'parked')`,
    [consumers, partitions],
  );
}
