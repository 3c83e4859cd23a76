// Migration 7: operations. The operators' audit log, and the breaker states workers report with their heartbeat.
// The audit log: Every action taken through the admin API or the operator CLI (retry and
// skip of parked events, …) is recorded here with who, what and when. Published migrations are immutable: change
// the schema by adding the next file. `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
-- One row per operator action. The row is written before the action runs (outcome 'started') and completed after
-- it ('ok', or 'failed' with the error's code and message), so an action that crashed half-way still shows who
-- tried what and when.
create table :SCHEMA:.audit_log (
  id           bigint generated always as identity primary key,
  at           timestamptz not null default now(),
  actor        text not null,
  action       text not null,
  target       text not null,
  details      jsonb not null default '{}',
  outcome      text not null check (outcome in ('started', 'ok', 'failed')),
  error_code   text,
  error        text,
  finished_at  timestamptz
);
create index audit_log_at_idx on :SCHEMA:.audit_log (at);

-- Each live worker's retry-storm breakers, by consumer ('closed', 'half-open', 'open'), written with its heartbeat,
-- so that the admin API and \`eventlane status\` show them from any process.
alter table :SCHEMA:.consumer_workers add column breakers jsonb not null default '{}';
`;
