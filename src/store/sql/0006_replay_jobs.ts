// Migration 6: replay jobs (issue 10). Independent of migrations 2 to 5.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- One row per replay job: what it replays (kind, consumer, range, filter), how fast (rate, concurrency, adaptive),
-- where it stands (state, checkpoint, counts) and what it found (report). The checkpoint and the counts are written
-- in the same transaction as the job's work, so a job resumes after a crash from exactly where its work committed.
create table :SCHEMA:.replay_jobs (
  id                   text primary key,
  kind                 text not null check (kind in ('rebuild', 'backfill', 'dry-run', 'reactor-replay')),
  consumer             text not null,
  -- The range in commit order: after from_checkpoint, up to and including to_checkpoint (null: follow the head).
  from_checkpoint      text not null,
  to_checkpoint        text,
  event_types          text[],
  stream_prefix        text,
  reprocess            boolean not null default false,
  max_events_per_second double precision check (max_events_per_second > 0),
  concurrency          integer not null default 1 check (concurrency between 1 and 64),
  adaptive             boolean not null default false,
  state                text not null
                       check (state in ('queued', 'running', 'paused', 'cancelled', 'completed', 'failed')),
  checkpoint           text not null,
  done                 bigint not null default 0,
  total                bigint not null default 0,
  skipped              bigint not null default 0,
  applied              bigint not null default 0,
  report               jsonb not null default '{}',
  error                text,
  -- The process running the job, and a fence: each run takes a new run_token, and a page commits only while the
  -- row still holds its token, so a process that was presumed dead cannot commit after another took over.
  owner                text,
  run_token            bigint not null default 0,
  heartbeat_at         timestamptz,
  created_at           timestamptz not null default now(),
  started_at           timestamptz,
  updated_at           timestamptz not null default now(),
  finished_at          timestamptz
);
create index replay_jobs_state_idx on :SCHEMA:.replay_jobs (state, created_at);

-- Type-filtered replays read one type at a time in commit order: with this index a page of a sparse type is an
-- index range scan of that type only, never a walk over pages of other types.
create index events_type_log_order_idx on :SCHEMA:.events (type, tx_order, global_position);
`;
