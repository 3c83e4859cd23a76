// Migration 2: store settings (the partition count) and relay checkpoints with leases.
// No NOTIFY trigger on the events table: see EventStoreImpl.#announce for why the store notifies after commit.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- Settings every process of a store must agree on. 'partitions' (P) is written once here with the default 16 and
-- may be changed only while no relay has run and the log is empty (see src/store/settings.ts): changing P later
-- would move entities between partitions and break per-entity order downstream.
create table :SCHEMA:.settings (
  key         text primary key,
  value       jsonb not null,
  updated_at  timestamptz not null default now()
);
insert into :SCHEMA:.settings (key, value) values ('partitions', '16');

-- One row per relay name: where it stands in the log (commit-order checkpoint, moved only after the broker
-- acknowledged) and who holds it. Leadership is a lease: owner + lease_until, with a fencing token that grows on
-- every takeover. Every checkpoint write names the token, so a relay that lost its lease cannot move the
-- checkpoint past the new leader's.
create table :SCHEMA:.relay_checkpoints (
  name           text primary key,
  checkpoint     text not null default '0:0',
  fencing_token  bigint not null default 0,
  owner          text,
  lease_until    timestamptz not null default '-infinity',
  published      bigint not null default 0,
  updated_at     timestamptz not null default now()
);
`;
