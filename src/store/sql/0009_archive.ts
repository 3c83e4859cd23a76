// Migration 9: retention. The store's identity (which archive directories belong to it), the archive segments
// with their export state, and how far the hot events table has been emptied into them.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- A random id written once: an archive directory's manifest names the store it belongs to, so a segment of one
-- store is never read, or overwritten, as another's.
insert into :SCHEMA:.settings (key, value) values ('store_id', to_jsonb(gen_random_uuid()::text))
  on conflict (key) do nothing;

-- One row per archive segment: a gzip NDJSON file holding the events (first, last] in commit order, contiguous with
-- the segment before it. state: 'exported' (file written and renamed into place), 'verified' (read back: count and
-- SHA-256 match), 'deleted' (its events are gone from the events table). An archive run moves each row forward
-- only after the step is done, so a rerun after a crash picks up exactly where the previous one stopped.
create table :SCHEMA:.archive_segments (
  seq           integer primary key check (seq >= 1),
  file          text not null unique,
  first_tx      xid8 not null,
  first_gp      bigint not null,
  last_tx       xid8 not null,
  last_gp       bigint not null,
  events        bigint not null check (events >= 1),
  bytes         bigint not null,
  sha256        text not null,
  type_counts   jsonb not null default '{}',
  state         text not null check (state in ('exported', 'verified', 'deleted')),
  created_at    timestamptz not null default now(),
  verified_at   timestamptz,
  deleted_at    timestamptz
);

-- One row: where the archive lives, and the checkpoint up to which the events table has been emptied. Every event
-- at or before (deleted_tx, deleted_gp) is read from the segments; log readers check it in the statement that
-- reads the events table, so a reader behind it never skips what was archived under it.
create table :SCHEMA:.archive_state (
  id          boolean primary key default true check (id),
  dir         text,
  deleted_tx  xid8 not null default '0',
  deleted_gp  bigint not null default 0,
  -- The archive run in progress: one at a time per store (a lease renewed while it runs; see src/retention/lease.ts).
  run_owner   text,
  run_until   timestamptz,
  updated_at  timestamptz not null default now()
);
insert into :SCHEMA:.archive_state (id) values (true);

-- Per stream: the last stream position moved to the archive and the segments holding its archived events, so that
-- readStream can tell where a stream's history lives and read it through without opening every segment.
create table :SCHEMA:.archived_streams (
  stream           text primary key,
  archived_through bigint not null,
  first_seq        integer not null,
  last_seq         integer not null
);
`;
