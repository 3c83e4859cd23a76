import { ErrorCodes, isEventlaneError } from '../../errors.js';
import { redactText } from '../../redact.js';

/** HTTP statuses of eventlane's error codes; every other code is a 500. */
const STATUS: Partial<Record<string, 400 | 401 | 404 | 409 | 413 | 503>> = {
  [ErrorCodes.REPLAY_RANGE]: 400,
  [ErrorCodes.REPLAY_MODE]: 400,
  [ErrorCodes.REPLAY_PREVIEW_REQUIRED]: 400,
  [ErrorCodes.REPLAY_PREVIEW_MISMATCH]: 400,
  [ErrorCodes.REPLAY_JOB_NOT_FOUND]: 404,
  [ErrorCodes.REPLAY_JOB_STATE]: 409,
  [ErrorCodes.INVALID_ARGUMENT]: 400,
  [ErrorCodes.INVALID_CHECKPOINT]: 400,
  [ErrorCodes.INVALID_STREAM]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.UNKNOWN_CONSUMER]: 404,
  [ErrorCodes.PARKED_EVENT_NOT_FOUND]: 404,
  [ErrorCodes.RELAY_PARKED_NOT_FOUND]: 404,
  [ErrorCodes.WORKER_STATE]: 409,
  [ErrorCodes.CONNECTION]: 503,
  [ErrorCodes.STATEMENT_TIMEOUT]: 503,
  [ErrorCodes.CLOSED]: 503,
};

/** The JSON body of every error response: the stable code and a message a person can act on. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export function jsonError(status: number, code: string, message: string): Response {
  const body: ErrorBody = { error: { code, message } };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
  });
}

/** Renders any thrown value as a JSON error; unknown errors become a 500 without their internals. */
export function errorResponse(error: unknown): Response {
  if (isEventlaneError(error)) {
    return jsonError(STATUS[error.code] ?? 500, error.code, redactText(error.message));
  }
  return jsonError(500, 'EVENTLANE_INTERNAL', 'The server failed on this request; its log has the details.');
}
