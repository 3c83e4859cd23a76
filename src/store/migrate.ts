import { MigrationError } from '../errors.js';
import type { Driver } from './drivers/driver.js';
import { quoteIdent } from './names.js';
import m0001 from './sql/0001_event_log.js';
import m0002 from './sql/0002_relay.js';
import m0003 from './sql/0003_consumers.js';
import m0004 from './sql/0004_projections.js';
import m0005 from './sql/0005_relay_parking.js';
import m0006 from './sql/0006_replay_jobs.js';
import m0007 from './sql/0007_audit.js';
import m0008 from './sql/0008_snapshots.js';
import m0009 from './sql/0009_archive.js';
import m0010 from './sql/0010_closing_and_keys.js';
import m0011 from './sql/0011_archive_scope.js';
import m0012 from './sql/0012_personal_key_check.js';

/** Numbered, immutable migrations. Append new ones; never edit a published one. Applied in id order. */
export const MIGRATIONS: readonly { id: number; name: string; sql: string }[] = [
  { id: 1, name: '0001_event_log', sql: m0001 },
  { id: 2, name: '0002_relay', sql: m0002 },
  { id: 3, name: '0003_consumers', sql: m0003 },
  { id: 4, name: '0004_projections', sql: m0004 },
  { id: 5, name: '0005_relay_parking', sql: m0005 },
  { id: 6, name: '0006_replay_jobs', sql: m0006 },
  { id: 7, name: '0007_audit', sql: m0007 },
  { id: 8, name: '0008_snapshots', sql: m0008 },
  { id: 9, name: '0009_archive', sql: m0009 },
  // Ids need not be contiguous, nor arrive in order: each known id not yet recorded in the migrations table is
  // applied, in id order.
  { id: 10, name: '0010_closing_and_keys', sql: m0010 },
  { id: 11, name: '0011_archive_scope', sql: m0011 },
  { id: 12, name: '0012_personal_key_check', sql: m0012 },
];

export interface MigrationResult {
  /** Migrations this call applied, in order. Empty when the schema was already current. */
  applied: string[];
  /** The schema's migration number after the call. */
  current: number;
}

/**
 * Brings the schema up to date. Safe to call from several processes at once: a transaction-scoped advisory
 * lock on the schema's name serializes them, and each migration's row is written in the same transaction as
 * its DDL, so a crash leaves either all of a migration or none.
 */
export async function migrate(driver: Driver, schema: string): Promise<MigrationResult> {
  const q = quoteIdent(schema);
  try {
    return await driver.transaction(async (ex) => {
      // Waiting for another process's migration, or building an index on a large table, may take longer than
      // the pool's statement_timeout: migrations run without it (for this transaction only).
      await ex.query("select set_config('statement_timeout', '0', true)");
      await ex.query('select pg_advisory_xact_lock(hashtext($1))', [`eventlane.migrate:${schema}`]);
      await ex.exec(
        `create schema if not exists ${q};
         create table if not exists ${q}.migrations (
           id integer primary key,
           name text not null,
           applied_at timestamptz not null default now()
         );`,
      );
      const rows = await ex.query<{ id: number }>(`select id from ${q}.migrations order by id`);
      const done = new Set(rows.map((r) => Number(r.id)));
      const ordered = [...MIGRATIONS].sort((a, b) => a.id - b.id);
      const latestKnown = ordered[ordered.length - 1]!.id;
      const newest = Math.max(0, ...done);
      if (newest > latestKnown) {
        throw new MigrationError(
          `Schema ${schema} is at migration ${newest}, newer than this version of eventlane knows ` +
            `(${latestKnown}). Upgrade eventlane in this service before it writes to that schema.`,
        );
      }
      const applied: string[] = [];
      for (const m of ordered) {
        if (done.has(m.id)) continue;
        await ex.query(`insert into ${q}.migrations (id, name) values ($1, $2)`, [m.id, m.name]);
        await ex.exec(m.sql.replaceAll(':SCHEMA:', q));
        applied.push(m.name);
      }
      return { applied, current: latestKnown };
    });
  } catch (error) {
    if (error instanceof MigrationError || (error as { code?: string }).code === 'EVENTLANE_CONNECTION')
      throw error;
    throw new MigrationError(
      `Migrating schema ${schema} failed: ${(error as Error).message}. Nothing of the failed migration was kept.`,
      error,
    );
  }
}
