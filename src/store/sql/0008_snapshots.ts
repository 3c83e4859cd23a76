// Migration 8: snapshots of command-handling state. `store.handle` may keep the state it folded from a stream every
// N events, so that the next command reads only the events after it. A snapshot is a cache: deleting any row is
// always safe. Published migrations are immutable: change the schema by adding the next file. `:SCHEMA:` is
// replaced by the store's quoted schema name.

export default /* sql */ `
-- One row per (stream, name): the newest snapshot a handler of that name took of the stream.
-- evolve_version is the version of the fold (the caller's evolve function) that produced the state; a handler
-- with another version ignores the row and folds from the start, and overwrites it at its next snapshot.
create table :SCHEMA:.snapshots (
  stream          text not null,
  name            text not null,
  evolve_version  integer not null check (evolve_version >= 1),
  stream_version  bigint not null check (stream_version >= 1),
  state           jsonb not null,
  taken_at        timestamptz not null default now(),
  primary key (stream, name)
);
`;
