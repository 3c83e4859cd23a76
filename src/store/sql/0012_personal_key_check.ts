// Migration 12: the key check of append_personal_events looks each subject's key up by its primary key. Migration
// 10's check joined subject_keys with the array of subjects; its plan, generic after a few calls, scanned the whole
// keys table on every append (0.2 ms at 1,000 subjects, growing with every subject the store ever saw).
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

import { appendBody } from './0010_closing_and_keys.js';

const CHECK_KEYS = `  -- One primary-key lookup per subject (an index scan whatever the statistics). No row lock: a forget that commits
  -- while this append is in flight leaves the append's fields under a key that is gone, so they read as erased, as
  -- if the append had come first.
  for i in 1 .. coalesce(cardinality(p_subjects), 0) loop
    perform 1 from :SCHEMA:.subject_keys k where k.subject = p_subjects[i] and k.key_id = p_key_ids[i];
    if not found then
      return query select 'key_changed'::text, 0::bigint, null::bigint, null::bigint, null::xid8;
      return;
    end if;
  end loop;`;

export default /* sql */ `
create or replace function :SCHEMA:.append_personal_events(
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
${appendBody(CHECK_KEYS, '')}
`;
