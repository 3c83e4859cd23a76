import { ConnectionError, StatementTimeoutError } from '../../errors.js';
import { redactText } from '../../redact.js';

/**
 * PostgreSQL SQLSTATEs and Node.js socket errors that mean "the database is not there or will not let us in".
 * Anything else passes through untouched.
 */
const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  '08000': 'connection_exception',
  '08001': 'sqlclient_unable_to_establish_sqlconnection',
  '08003': 'connection_does_not_exist',
  '08004': 'sqlserver_rejected_establishment_of_sqlconnection',
  '08006': 'connection_failure',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '3D000': 'invalid_catalog_name (the database does not exist)',
  '57P01': 'admin_shutdown',
  '57P03': 'cannot_connect_now',
};

/** SQLSTATE query_canceled: statement_timeout expired, or pg_cancel_backend() was called on the statement. */
const QUERY_CANCELED = '57014';

export function connectionErrorOrSelf(error: unknown, where: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === QUERY_CANCELED) {
    return new StatementTimeoutError(
      `PostgreSQL at ${where} cancelled a statement: it ran longer than the statement timeout ` +
        "(the store's `statementTimeoutMs`, or the server's statement_timeout), or an operator cancelled it. " +
        'Nothing of it was kept; retry it, look for what blocked it (locks, a slow plan), or raise the timeout.',
      error,
    );
  }
  // A driver message may quote the connection string: it is redacted before it becomes part of ours.
  const message = redactText(error instanceof Error ? error.message : String(error));
  const known = typeof code === 'string' ? CONNECTION_CODES[code] : undefined;
  const timeout = /timeout exceeded when trying to connect|Connection terminated/i.test(message);
  if (known === undefined && !timeout) return error;
  return new ConnectionError(
    `Cannot use the database at ${where}: ${known ?? 'connection failed'} (${message}). ` +
      'Check that PostgreSQL is running and that the URL, user, password and database name are right.',
    error,
  );
}
