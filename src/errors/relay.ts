/** Errors of the relay. */

import { ErrorCodes } from './codes.js';
import { EventlaneError } from './base.js';

export class RelayParkedNotFoundError extends EventlaneError {
  constructor(id: string, wanted: string) {
    super(
      ErrorCodes.RELAY_PARKED_NOT_FOUND,
      `No ${wanted} relay-parked event has id ${JSON.stringify(id)}. List them with relayParking(store).list() ` +
        'and pass an id from there.',
      { details: { id } },
    );
  }
}
