/** Errors of the operations surface: the admin HTTP API, `eventlane serve` and the operator CLI. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

/** A request to the admin API without the bearer token, or with a wrong one. */
export class UnauthorizedError extends EventlaneError {
  constructor() {
    super(
      ErrorCodes.UNAUTHORIZED,
      'This request needs the admin token: send it as `Authorization: Bearer <token>` ' +
        '(the token given to `eventlane serve` by EVENTLANE_ADMIN_TOKEN or the config).',
    );
  }
}

/** Something a request names (an event, a route) that does not exist. */
export class NotFoundError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.NOT_FOUND, message, { details });
  }
}

/** The operations config (database, token, port, host) is missing or unusable. */
export class InvalidConfigError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.INVALID_CONFIG, message, { details, cause });
  }
}
