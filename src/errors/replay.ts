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

/**
 * A rebuild of the projection is open already (running, queued, paused or failed): a second job would build the same
 * version beside it. Same code as any job-state refusal.
 */
export class RebuildInProgressError extends EventlaneError {
  constructor(
    projection: string,
    job: { id: string; state: string; done: string | number; total: string | number },
  ) {
    const next =
      job.state === 'running'
        ? `Watch it with \`eventlane replay show ${job.id}\`, or pause it with \`eventlane replay pause ${job.id}\` ` +
          `(take over a job whose process is gone with \`eventlane replay resume ${job.id} --take-over\`).`
        : `Resume it with \`eventlane replay resume ${job.id}\`, or cancel it with ` +
          `\`eventlane replay cancel ${job.id}\` and start the rebuild again.`;
    super(
      ErrorCodes.REPLAY_JOB_STATE,
      `A rebuild of projection ${JSON.stringify(projection)} is already ${job.state}: replay job ${job.id} ` +
        `(${String(job.done)} of ${String(job.total)} events). Nothing was started. ${next}`,
      { details: { projection, id: job.id, state: job.state } },
    );
  }
}
