// Migration 11: archive segments of closed streams. A segment either holds every event of its range ('log', what
// an archive run by time or checkpoint writes) or only the events of the closed streams in it ('closed-streams',
// `archive --closed-streams-only`): the open streams' events of that range stay in the events table.
// Published migrations are immutable: change the schema by adding the next file.
// `:SCHEMA:` is replaced by the store's quoted schema name.

export default /* sql */ `
alter table :SCHEMA:.archive_segments
  add column scope text not null default 'log' check (scope in ('log', 'closed-streams'));
`;
