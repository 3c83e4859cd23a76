/** Errors of replay jobs: ranges, modes, previews and job states. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

export class ReplayRangeError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.REPLAY_RANGE, message, { details });
  }
}

export class ReplayModeError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.REPLAY_MODE, message, { details });
  }
}

export class ReplayPreviewRequiredError extends EventlaneError {
  constructor(events: number, threshold: number) {
    super(
      ErrorCodes.REPLAY_PREVIEW_REQUIRED,
      `This replay covers ${events} events, more than the preview threshold (${threshold}). Call plan() with the ` +
        'same options, read what it would do, and pass its previewToken to start(). Nothing was started.',
      { details: { events, threshold } },
    );
  }
}

export class ReplayPreviewMismatchError extends EventlaneError {
  constructor(reason: string) {
    super(
      ErrorCodes.REPLAY_PREVIEW_MISMATCH,
      `The preview token does not match this replay (${reason}). Plan the replay again with exactly the options ` +
        'you start it with, and pass that plan’s previewToken. Nothing was started.',
      { details: { reason } },
    );
  }
}

export class ReplayJobNotFoundError extends EventlaneError {
  constructor(id: unknown) {
    super(
      ErrorCodes.REPLAY_JOB_NOT_FOUND,
      `No replay job has the id ${JSON.stringify(String(id)).slice(0, 120)}. list() shows the jobs there are.`,
      { details: { id: String(id).slice(0, 100) } },
    );
  }
}

export class ReplayJobStateError extends EventlaneError {
  constructor(id: string, state: string, operation: string, hint: string) {
    super(
      ErrorCodes.REPLAY_JOB_STATE,
      `Replay job ${id} is ${state}, so it cannot be ${operation}. ${hint}`,
      { details: { id, state, operation } },
    );
  }
}
