/** Errors of consumers and workers: definitions, handlers, leases, bus deliveries, parked events. */

import { ErrorCodes } from './codes.js';
import { EventlaneError, describeValue } from './base.js';

export class UnknownConsumerError extends EventlaneError {
  constructor(name: unknown, known: readonly string[]) {
    super(
      ErrorCodes.UNKNOWN_CONSUMER,
      `No consumer is named ${describeValue(name)}. Known consumers: ${known.length ? known.join(', ') : '(none)'}. ` +
        'Pass the name given to defineProjection/defineReactor.',
      { details: { name: describeValue(name), known } },
    );
  }
}

export class InvalidConsumerError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCodes.INVALID_CONSUMER, message, { details });
  }
}

export class HandlerContractError extends EventlaneError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCodes.HANDLER_CONTRACT, message, { details, cause });
  }
}

export class FailureNotRecordedError extends EventlaneError {
  constructor(
    where: { consumer: string; stream: string; streamPosition: number; eventId: string },
    handlerError: string,
    cause: unknown,
    retryInMs: number,
  ) {
    super(
      ErrorCodes.FAILURE_NOT_RECORDED,
      `Consumer ${JSON.stringify(where.consumer)} failed on ${where.stream}@${where.streamPosition} ` +
        `(${JSON.stringify(handlerError.slice(0, 200))}), and recording that failure failed too: ` +
        `${cause instanceof Error ? cause.message : String(cause)}. The event is neither applied nor parked; the lane ` +
        `tries again in ${retryInMs} ms. Check that the database accepts writes to the schema's parked_events table.`,
      { details: { ...where, retryInMs }, cause },
    );
  }
}

export class LeaseLostError extends EventlaneError {
  constructor(group: string, partition: number, token: number) {
    super(
      ErrorCodes.LEASE_LOST,
      `This worker no longer owns partition ${partition} of group ${JSON.stringify(group)} (fencing token ${token}); ` +
        'another worker took it over. The work was rolled back and will be done by the new owner.',
      { details: { group, partition, token } },
    );
  }
}

/** Why a bus delivery was set aside (label `reason` of `eventlane_consumer_rejected_total`). */
export type DeliveryRejectReason = 'unknown_event' | 'wrong_position' | 'other_content';

export class DeliveryRejectedError extends EventlaneError {
  readonly reason: DeliveryRejectReason;
  constructor(
    reason: DeliveryRejectReason,
    consumer: string,
    delivered: { id: string; stream: string; streamPosition: number; type: string },
    what: string,
  ) {
    super(
      ErrorCodes.DELIVERY_REJECTED,
      `Consumer ${JSON.stringify(consumer)} received event ${delivered.id} (${JSON.stringify(delivered.type)} at ` +
        `${JSON.stringify(delivered.stream)} position ${delivered.streamPosition}) from the bus, but ${what}. ` +
        'The message was acknowledged and not applied; the store is the truth and the stream is read from it. ' +
        'Look for a producer that publishes to the relay subjects, or a corrupted message on the broker.',
      { details: { reason, consumer, ...delivered } },
    );
    this.reason = reason;
  }
}

export class WorkerStateError extends EventlaneError {
  constructor(message: string) {
    super(ErrorCodes.WORKER_STATE, message);
  }
}

export class ParkedEventNotFoundError extends EventlaneError {
  constructor(id: unknown, wanted: string) {
    super(
      ErrorCodes.PARKED_EVENT_NOT_FOUND,
      `No ${wanted} event has id ${JSON.stringify(id)}. List them with listParked() and pass an id from there.`,
      { details: { id } },
    );
  }
}
