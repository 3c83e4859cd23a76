/** Errors of retention: closed streams and personal data. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

export class StreamClosedError extends EventlaneError {
  readonly stream: string;
  /** When the stream was closed. */
  readonly closedAt: Date;

  constructor(stream: string, closedAt: Date, version: number) {
    super(
      ErrorCodes.STREAM_CLOSED,
      `Stream ${JSON.stringify(stream)} was closed at ${closedAt.toISOString()} (version ${version}) and takes no ` +
        'more events. Nothing was appended: start a new stream for what follows (and link it in the data), or ' +
        'leave the stream closed.',
      { details: { stream, closedAt: closedAt.toISOString(), version } },
    );
    this.stream = stream;
    this.closedAt = closedAt;
  }
}

/** Where an unreadable personal field was found. */
export interface PersonalFieldRef {
  id: string;
  stream: string;
  streamPosition: number;
  type: string;
  /** The field; for fields sealed together (the current stored form), their names joined by commas. */
  field: string;
}

/** `field` is one name, or several joined by commas when the fields were sealed together. */
function fieldNames(field: string): string {
  const names = field.split(',');
  return `${names.length === 1 ? 'field' : 'fields'} ${names.map((n) => JSON.stringify(n)).join(', ')}`;
}

export class PersonalDataUnreadableError extends EventlaneError {
  constructor(ref: PersonalFieldRef, why: string, cause?: unknown) {
    super(
      ErrorCodes.PERSONAL_DATA_UNREADABLE,
      `The personal ${fieldNames(ref.field)} of event ${ref.id} (${ref.type} at ` +
        `${JSON.stringify(ref.stream)} position ${ref.streamPosition}) cannot be decrypted: ${why}. The stored ` +
        'value was changed outside eventlane or copied from another event; restore the row from a backup, or ' +
        'park or skip the event where a consumer stopped on it.',
      { details: { ...ref, reason: why }, cause },
    );
  }
}

export class PersonalSubjectError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.PERSONAL_SUBJECT, message, { details });
  }
}
