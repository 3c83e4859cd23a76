// Migration 3: the consumer runtime (issue 4). Migration 2 belongs to the relay; migrations are applied in id
// order and each is independent of the other, so either may be applied first on a database that has neither.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- Where a log consumer stands in the log, per partition (commit order, "txid:globalPosition").
-- Written in the same transaction as the consumer's work.
create table :SCHEMA:.consumer_checkpoints (
  consumer    text not null,
  partition   integer not null check (partition >= 0),
  checkpoint  text not null,
  updated_at  timestamptz not null default now(),
  primary key (consumer, partition)
);

-- The order guard: the last stream position a consumer applied, per stream. A delivery at or below it is a
-- duplicate, the next one is applied, a later one is early. Written in the same transaction as the work.
create table :SCHEMA:.consumer_streams (
  consumer    text not null,
  stream      text not null,
  position    bigint not null check (position >= 0),
  updated_at  timestamptz not null default now(),
  primary key (consumer, stream)
);

-- Failing and parked events. While a row is 'retrying' or 'parked', the rest of its stream waits behind it; while a
-- 'resolved' or 'skipped' row has no caught_up_at, the rest of its stream is being read from the store.
-- Rows are kept after 'resolved' / 'skipped' as the record of what happened (who skipped, when, why).
create table :SCHEMA:.parked_events (
  id                bigint generated always as identity primary key,
  consumer          text not null,
  partition         integer not null,
  stream            text not null,
  stream_position   bigint not null,
  event_id          uuid not null,
  event_type        text not null,
  status            text not null check (status in ('retrying', 'parked', 'resolved', 'skipped')),
  error             text not null,
  error_code        text,
  stack             text,
  attempts          integer not null default 1,
  first_failed_at   timestamptz not null default now(),
  last_failed_at    timestamptz not null default now(),
  next_attempt_at   timestamptz,
  parked_at         timestamptz,
  resolved_at       timestamptz,
  -- Set when the stream has been read to its end after the row was resolved or skipped. Until then the worker that
  -- owns the partition keeps catching the stream up (its later events were left to the store while it waited).
  caught_up_at      timestamptz,
  skipped_by        text,
  skipped_at        timestamptz,
  skip_reason       text
);
create unique index parked_events_active_key on :SCHEMA:.parked_events (consumer, stream)
  where status in ('retrying', 'parked');
create index parked_events_consumer_idx on :SCHEMA:.parked_events (consumer, status, partition);
create index parked_events_catchup_idx on :SCHEMA:.parked_events (consumer, partition) where caught_up_at is null;

-- The effect journal of reactors: one row per (consumer, event, effect). 'pending' is written before the
-- effect runs and 'done' (with its result) after, so a completed effect is never performed again and a
-- pending one is retried with the same idempotency key.
create table :SCHEMA:.effect_journal (
  consumer         text not null,
  event_id         uuid not null,
  effect           text not null,
  idempotency_key  text not null,
  status           text not null check (status in ('pending', 'done')),
  result           jsonb,
  attempts         integer not null default 1,
  started_at       timestamptz not null default now(),
  completed_at     timestamptz,
  primary key (consumer, event_id, effect)
);

-- Partition ownership among the worker processes of one group. fencing_token grows at every change of owner;
-- a worker's transactions check owner and token under a share lock, so a worker that lost its lease while
-- paused cannot commit work for a partition someone else now owns.
create table :SCHEMA:.partition_leases (
  group_name     text not null,
  partition      integer not null check (partition >= 0),
  owner          text,
  fencing_token  bigint not null default 0,
  heartbeat_at   timestamptz,
  acquired_at    timestamptz,
  primary key (group_name, partition)
);

-- The live workers of a group, for rebalancing: each worker targets its share of the partitions. "consumers" lets a
-- worker refuse to start a consumer that a live worker of another group already runs (leases are per group).
create table :SCHEMA:.consumer_workers (
  group_name    text not null,
  worker_id     text not null,
  consumers     text[] not null default '{}',
  heartbeat_at  timestamptz not null default now(),
  started_at    timestamptz not null default now(),
  primary key (group_name, worker_id)
);
`;
