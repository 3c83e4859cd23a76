/** Errors of event contracts: schemas, undeclared types, upcasters, contract snapshots. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

/** One problem a schema found in an event, with where it is (`data.items[2].price`). */
export interface SchemaIssue {
  /** Index of the event in the append. */
  index: number;
  type: string;
  version: number;
  /** Path inside the event, starting at `data`, e.g. `data.amount`. */
  path: string;
  /** What the schema expected, in its own words. */
  message: string;
}

export class SchemaValidationError extends EventlaneError {
  readonly issues: readonly SchemaIssue[];

  constructor(issues: readonly SchemaIssue[]) {
    const first = issues[0];
    const head = first
      ? `events[${first.index}] (${first.type} v${first.version}) does not match its declared schema`
      : 'An event does not match its declared schema';
    const lines = issues.map(
      (i) => `  events[${i.index}] ${i.type} v${i.version} ${i.path || 'data'}: ${i.message}`,
    );
    super(
      ErrorCodes.SCHEMA_VALIDATION,
      `${head}; nothing was appended. ${issues.length} issue${issues.length === 1 ? '' : 's'}:\n${lines.join('\n')}\n` +
        'Fix the data to match the schema, or declare a new version of the event with defineEvent.',
      { details: { issues } },
    );
    this.issues = issues;
  }
}

export class UndeclaredEventError extends EventlaneError {
  constructor(index: number, type: string, declared: readonly string[]) {
    super(
      ErrorCodes.UNDECLARED_EVENT,
      `events[${index}] has type ${JSON.stringify(type)}, which no contract declares, and this store rejects ` +
        `undeclared types; nothing was appended. Declared: ${declared.length > 0 ? declared.join(', ') : '(none)'}. ` +
        "Add a defineEvent contract for it to `events`, or open the store with undeclaredEvents: 'allow'.",
      { details: { index, type } },
    );
  }
}

export class InvalidContractError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.INVALID_CONTRACT, message, { details, cause });
  }
}

export class UpcastError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.UPCAST, message, { details, cause });
  }
}

/** A contract snapshot folder holds a file eventlane refuses to read; the message names the file, not its content. */
export class InvalidSnapshotError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_SNAPSHOT, message, { details });
  }
}
