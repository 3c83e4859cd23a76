// Migration 1: the event log, the stream versions and the append function.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
create table :SCHEMA:.streams (
  stream      text primary key,
  version     bigint not null check (version >= 0),
  -- The tx_order of the stream's last event; the next append to the stream takes at least this.
  tx_order    xid8 not null,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

-- The log and the outbox in one table. global_position is assigned at insert, so it is not commit order.
-- Readers order and checkpoint by (tx_order, global_position) and read only rows whose tx_order is below the
-- oldest transaction still running (pg_snapshot_xmin), so an event whose transaction commits late is read
-- late, never skipped.
--
-- tx_order is the appending transaction's xid8, raised to the tx_order of the stream's previous event when that
-- is higher. A transaction can take its xid (at its first write) before another transaction that appends to
-- the same stream and commits first; ordering by the bare xid would then hand out that stream's events out of
-- position order. Raising it keeps each stream's events in position order in the log, and stays gap-free:
-- a row is read only once tx_order < xmin, which implies its own transaction has ended, and every transaction
-- still running has an xid >= xmin, so every row it will ever write sorts after what was read.
create table :SCHEMA:.events (
  global_position  bigint generated always as identity primary key,
  tx_order         xid8 not null,
  id               uuid not null,
  stream           text not null,
  stream_position  bigint not null check (stream_position >= 1),
  type             text not null,
  version          integer not null check (version >= 1),
  data             jsonb not null,
  metadata         jsonb not null,
  occurred_at      timestamptz not null,
  recorded_at      timestamptz not null default now(),
  constraint events_id_key unique (id),
  constraint events_stream_position_key unique (stream, stream_position)
);

create index events_log_order_idx on :SCHEMA:.events (tx_order, global_position);

-- Appends a batch to one stream in one round trip, enforcing the expected version inside PostgreSQL.
-- p_mode: 'any' | 'no_stream' | 'stream_exists' | 'exact' (then p_expected is the version).
-- p_events: a JSON array of {id, type, version, data, metadata, occurred_at}.
-- Returns status 'ok', 'conflict' (nothing written; actual_version says where the stream is),
-- 'duplicate' (the same ids were already appended at these positions: nothing written, original result),
-- or 'id_conflict' (some id is stored with other content or elsewhere: nothing written).
create function :SCHEMA:.append_events(
  p_stream text,
  p_mode text,
  p_expected bigint,
  p_events jsonb,
  p_count integer,
  p_probe_ids boolean
) returns table (
  status text,
  stream_version bigint,
  first_position bigint,
  last_global_position bigint,
  tx_order xid8
) language plpgsql as $fn$
declare
  v_version bigint;
  v_order xid8;
  v_first_id uuid;
begin
  if p_probe_ids then
    v_first_id := (p_events -> 0 ->> 'id')::uuid;
    perform 1 from :SCHEMA:.events e where e.id = v_first_id;
    if found then
      return query select * from :SCHEMA:.append_events_replayed(p_stream, p_events, p_count);
      return;
    end if;
  end if;

  if p_mode = 'any' then
    insert into :SCHEMA:.streams as s (stream, version, tx_order) values (p_stream, p_count, pg_current_xact_id())
      on conflict (stream) do update
        set version = s.version + p_count, tx_order = greatest(s.tx_order, pg_current_xact_id()), updated_at = now()
      returning s.version, s.tx_order into v_version, v_order;
  elsif p_mode = 'no_stream' or (p_mode = 'exact' and p_expected = 0) then
    insert into :SCHEMA:.streams as s (stream, version, tx_order) values (p_stream, p_count, pg_current_xact_id())
      on conflict (stream) do nothing
      returning s.version, s.tx_order into v_version, v_order;
  elsif p_mode = 'stream_exists' then
    update :SCHEMA:.streams s
       set version = s.version + p_count, tx_order = greatest(s.tx_order, pg_current_xact_id()), updated_at = now()
     where s.stream = p_stream
    returning s.version, s.tx_order into v_version, v_order;
  else
    update :SCHEMA:.streams s
       set version = s.version + p_count, tx_order = greatest(s.tx_order, pg_current_xact_id()), updated_at = now()
     where s.stream = p_stream and s.version = p_expected
    returning s.version, s.tx_order into v_version, v_order;
  end if;

  if v_version is null then
    if not p_probe_ids then
      -- A retry of an append that already succeeded conflicts on its version: answer it idempotently.
      v_first_id := (p_events -> 0 ->> 'id')::uuid;
      perform 1 from :SCHEMA:.events e where e.id = v_first_id;
      if found then
        return query select * from :SCHEMA:.append_events_replayed(p_stream, p_events, p_count);
        return;
      end if;
    end if;
    select s.version into v_version from :SCHEMA:.streams s where s.stream = p_stream;
    return query select 'conflict'::text, coalesce(v_version, 0), null::bigint, null::bigint, null::xid8;
    return;
  end if;

  return query
  with inserted as (
    insert into :SCHEMA:.events (tx_order, id, stream, stream_position, type, version, data, metadata, occurred_at)
    -- jsonb_to_recordset turns a JSON null into SQL NULL; the key is always present, so NULL means JSON null.
    select v_order, x.id, p_stream, v_version - p_count + x.ord, x.type, x.version, coalesce(x.data, 'null'::jsonb),
           x.metadata, x.occurred_at
      from rows from (
             jsonb_to_recordset(p_events)
               as (id uuid, type text, version integer, data jsonb, metadata jsonb, occurred_at timestamptz)
           ) with ordinality as x(id, type, version, data, metadata, occurred_at, ord)
     order by x.ord
    returning global_position
  )
  select 'ok'::text, v_version, v_version - p_count + 1, max(i.global_position), v_order
    from inserted i;
end;
$fn$;

-- The answer to an append whose first id is already stored: either the very same batch again
-- (same ids, same stream, consecutive positions, same type, version and data) or an id conflict.
create function :SCHEMA:.append_events_replayed(
  p_stream text,
  p_events jsonb,
  p_count integer
) returns table (
  status text,
  stream_version bigint,
  first_position bigint,
  last_global_position bigint,
  tx_order xid8
) language sql stable as $fn$
  with wanted as (
    select x.id, x.type, x.version, x.data, x.ord
      from rows from (jsonb_to_recordset(p_events) as (id uuid, type text, version integer, data jsonb))
           with ordinality as x(id, type, version, data, ord)
  ),
  stored as (
    select w.ord, e.stream, e.stream_position, e.global_position, e.tx_order,
           (e.type = w.type and e.version = w.version and e.data = coalesce(w.data, 'null'::jsonb)) as same
      from wanted w left join :SCHEMA:.events e on e.id = w.id
  ),
  summary as (
    select count(*) filter (where s.stream = p_stream and s.same
                              and s.stream_position = (select min(stream_position) from stored) + s.ord - 1) as matching,
           min(s.stream_position) as first_position,
           max(s.global_position) as last_global_position,
           (array_agg(s.tx_order order by s.ord))[1] as tx_order
      from stored s
  )
  select case when m.matching = p_count then 'duplicate' else 'id_conflict' end,
         m.first_position + p_count - 1,
         m.first_position, m.last_global_position, m.tx_order
    from summary m;
$fn$;
`;
