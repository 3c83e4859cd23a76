// Migration 10: closed streams and the data keys of personal data (crypto-shredding).
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.
//
// Number 9 belongs to the archive's migration; the migrator applies every migration it knows and has not applied,
// in id order, so a schema may hold 10 before 9 (see src/store/migrate.ts).

/** The body of the append function (migration 1's, plus the closed-stream check), with an optional check first. */
export const appendBody = (check: string, vars: string): string => `declare
  v_version bigint;
  v_order xid8;
  v_first_id uuid;
  v_closed timestamptz;
${vars}begin
${check}
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
        where s.closed_at is null
      returning s.version, s.tx_order into v_version, v_order;
  elsif p_mode = 'no_stream' or (p_mode = 'exact' and p_expected = 0) then
    insert into :SCHEMA:.streams as s (stream, version, tx_order) values (p_stream, p_count, pg_current_xact_id())
      on conflict (stream) do nothing
      returning s.version, s.tx_order into v_version, v_order;
  elsif p_mode = 'stream_exists' then
    update :SCHEMA:.streams s
       set version = s.version + p_count, tx_order = greatest(s.tx_order, pg_current_xact_id()), updated_at = now()
     where s.stream = p_stream and s.closed_at is null
    returning s.version, s.tx_order into v_version, v_order;
  else
    update :SCHEMA:.streams s
       set version = s.version + p_count, tx_order = greatest(s.tx_order, pg_current_xact_id()), updated_at = now()
     where s.stream = p_stream and s.version = p_expected and s.closed_at is null
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
    select s.version, s.closed_at into v_version, v_closed from :SCHEMA:.streams s where s.stream = p_stream;
    if v_closed is not null then
      return query select 'closed'::text, v_version, null::bigint, null::bigint, null::xid8;
      return;
    end if;
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
$fn$;`;

const CHECK_KEYS = `  -- No row lock: a forget that commits while this append is in flight leaves the append's fields under a key that
  -- is gone, so they read as erased, as if the append had come first. Locking the key rows (for key share) cost a
  -- tuple lock write per append.
  select count(*) into v_found
    from :SCHEMA:.subject_keys k
    join unnest(p_subjects, p_key_ids) as w(subject, key_id) on k.subject = w.subject and k.key_id = w.key_id;
  if v_found < cardinality(p_subjects) then
    return query select 'key_changed'::text, 0::bigint, null::bigint, null::bigint, null::xid8;
    return;
  end if;`;

export default /* sql */ `
-- When the stream was closed (store.closeStream); null while it takes appends. A nullable column without a default
-- is added without rewriting the table.
alter table :SCHEMA:.streams add column closed_at timestamptz;

-- The archive and operators list closed streams; the index holds only those.
create index streams_closed_idx on :SCHEMA:.streams (closed_at, stream) where closed_at is not null;

-- One random AES-256 data key per subject (a person, a customer: whatever the contracts name as the subject of
-- their personal fields). Personal fields are stored encrypted with it; store.forget(subject) deletes the row,
-- after which those fields read as erased everywhere the store is the source. key_id changes when a subject
-- forgotten earlier gets personal data again, so an append prepared with an older key is refused, not stored
-- under a key nobody holds.
create table :SCHEMA:.subject_keys (
  subject     text primary key,
  key_id      uuid not null,
  key         bytea not null check (octet_length(key) = 32),
  created_at  timestamptz not null default now()
);

-- The append, with closed streams refused: a closed stream's row takes no update (the extra condition costs
-- nothing on an open stream), and only when nothing was updated does the function look at why.
-- Returns status 'closed' (nothing written) besides those of migration 1.
create or replace function :SCHEMA:.append_events(
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
${appendBody('', '')}

-- The append of events with personal fields encrypted under the keys in p_key_ids (one per subject in
-- p_subjects): refused with status 'key_changed' when one of those keys is no longer stored (forgotten since the
-- appender read it, typically in another process), so that new personal data is not written under a key already
-- deleted. Otherwise as append_events (the same body, not a nested call:
-- a PL/pgSQL call from PL/pgSQL cost a measurable share of single-event appends).
create function :SCHEMA:.append_personal_events(
  p_stream text,
  p_mode text,
  p_expected bigint,
  p_events jsonb,
  p_count integer,
  p_probe_ids boolean,
  p_subjects text[],
  p_key_ids uuid[]
) returns table (
  status text,
  stream_version bigint,
  first_position bigint,
  last_global_position bigint,
  tx_order xid8
) language plpgsql as $fn$
${appendBody(CHECK_KEYS, '  v_found integer;\n')}
`;
