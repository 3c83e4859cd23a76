// Migration 5: relay parking. An event the relay cannot publish (larger than the bus accepts) is parked here
// instead of being retried forever, and the later events of its stream are held behind it, so the outbox goes on
// while per-stream order on the bus is kept. Published migrations are immutable: change the schema by adding the
// next file. `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- One row per event a relay set aside. The relay's checkpoint moves past an event only once its row is written
-- (in the same flight as the batch it came in), so nothing falls between the checkpoint and this table.
--
-- status: 'parked'    the first open row of its stream: the bus refused it; waits for an operator
--         'held'      a later event of a stream with a parked event: waits behind it, in commit order
--         'retry'     an operator asked to publish the parked event again (after raising the bus limit)
--         'skip'      an operator gave up on the parked event: the relay publishes the held ones after it
--         'published' | 'skipped'  done (kept as a record)
create table :SCHEMA:.relay_parked (
  id              bigint generated always as identity primary key,
  relay           text not null,
  event_id        uuid not null,
  stream          text not null,
  stream_position bigint not null,
  event_type      text not null,
  tx_order        xid8 not null,
  global_position bigint not null,
  status          text not null
                  check (status in ('parked', 'held', 'retry', 'skip', 'published', 'skipped')),
  error           text,
  error_code      text,
  size_bytes      bigint,
  limit_bytes     bigint,
  attempts        integer not null default 1,
  parked_at       timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  skipped_by      text,
  skip_reason     text,
  done_at         timestamptz,
  unique (relay, event_id)
);
-- The relay's questions: which streams are held (its start), and which open rows follow a released one.
create index relay_parked_open_idx on :SCHEMA:.relay_parked (relay, stream, tx_order, global_position)
  where status in ('parked', 'held', 'retry', 'skip');
`;
