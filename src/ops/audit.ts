// The operators' audit log (migration 0007): who did what, when, and how it ended.

import { isEventlaneError } from '../errors.js';
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, storableText } from '../events/error-text.js';
import type { EventStore } from '../store/event-store.js';
import { quoteIdent } from '../store/names.js';
import { redactText } from '../redact.js';

export interface AuditEntry {
  id: string;
  at: Date;
  /** Who acted: the name of the admin token, or the CLI user. */
  actor: string;
  /** e.g. `parked.retry`, `parked.skip`, `relay-parked.retry`, `projection.skip`. */
  action: string;
  /** What the action was taken on, e.g. `parked:42` or `projection:summary`. */
  target: string;
  details: Record<string, unknown>;
  outcome: 'started' | 'ok' | 'failed';
  errorCode: string | null;
  error: string | null;
  finishedAt: Date | null;
}

export interface AuditRequest {
  actor: string;
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

/**
 * Runs an operator action under an audit row: the row is written first (so an action that dies half-way still
 * shows who tried what), then completed with the outcome. The action's result or error is passed on unchanged.
 */
export async function audited<T>(
  store: EventStore,
  request: AuditRequest,
  action: () => Promise<T>,
): Promise<T> {
  const q = quoteIdent(store.schema);
  const [row] = await store.executor.query<{ id: string }>(
    `insert into ${q}.audit_log (actor, action, target, details, outcome) values ($1, $2, $3, $4, 'started')
     returning id::text as id`,
    [
      storableText(request.actor, MAX_ERROR_CODE_BYTES),
      request.action,
      storableText(request.target, MAX_ERROR_MESSAGE_BYTES),
      JSON.stringify(request.details ?? {}),
    ],
  );
  try {
    const result = await action();
    await store.executor.query(
      `update ${q}.audit_log set outcome = 'ok', finished_at = now() where id = $1`,
      [row!.id],
    );
    return result;
  } catch (error) {
    const code = isEventlaneError(error) ? error.code : 'UNEXPECTED';
    const message = redactText(error instanceof Error ? error.message : String(error));
    await store.executor
      .query(
        `update ${q}.audit_log set outcome = 'failed', finished_at = now(), error_code = $2, error = $3
          where id = $1`,
        [row!.id, code, storableText(message, MAX_ERROR_MESSAGE_BYTES)],
      )
      // The action's own error is the one to report; the started row still stands.
      .catch(() => undefined);
    throw error;
  }
}

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  outcome: AuditEntry['outcome'];
  error_code: string | null;
  error: string | null;
  finished_at: Date | null;
}

/** The newest entries first. */
export async function listAudit(store: EventStore, options: { limit?: number } = {}): Promise<AuditEntry[]> {
  const rows = await store.executor.query<AuditRow>(
    `select id::text as id, at, actor, action, target, details, outcome, error_code, error, finished_at
       from ${quoteIdent(store.schema)}.audit_log order by id desc limit $1`,
    [options.limit ?? 100],
  );
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    details: r.details,
    outcome: r.outcome,
    errorCode: r.error_code,
    error: r.error,
    finishedAt: r.finished_at,
  }));
}
