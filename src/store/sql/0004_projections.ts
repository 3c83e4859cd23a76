// Migration 4: versioned read models (issue 6). Independent of migrations 2 and 3.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- One row per (projection, version). status: 'building' (rebuilding from the log while another version serves),
-- 'live' (the stable names are views of its tables), 'retired' (replaced; its tables are dropped after the grace
-- period or by command), 'dropped'. The checkpoint is written in the same transaction as the version's writes.
create table :SCHEMA:.projections (
  name          text not null,
  version       integer not null check (version >= 1),
  status        text not null check (status in ('building', 'live', 'retired', 'dropped')),
  mode          text not null check (mode in ('inline', 'async')),
  read_schema   text not null,
  tables        text[] not null,
  checkpoint    text not null default '0:0',
  applied       bigint not null default 0,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  live_at       timestamptz,
  retired_at    timestamptz,
  primary key (name, version)
);
-- At most one live version per projection.
create unique index projections_one_live on :SCHEMA:.projections (name) where status = 'live';
`;
