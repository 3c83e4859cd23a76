/** Errors of the message buses: unreachable or refusing brokers, invalid and oversized messages. */

import { ErrorCodes } from './codes.js';
import { EventlaneError, type EventlaneErrorOptions } from './base.js';

/** A bus could not do its work; `code` says whether the broker was unreachable, refused us, or did not ack. */
export class BusError extends EventlaneError {
  /** `'nats'`, `'rabbitmq'`, `'redis'`, `'embedded'`. */
  readonly bus: string;

  constructor(
    code:
      | typeof ErrorCodes.BUS_UNREACHABLE
      | typeof ErrorCodes.BUS_AUTHENTICATION
      | typeof ErrorCodes.BUS_PUBLISH
      | typeof ErrorCodes.BUS_CLOSED,
    bus: string,
    message: string,
    options: EventlaneErrorOptions = {},
  ) {
    super(code, message, { ...options, details: { bus, ...options.details } });
    this.bus = bus;
  }
}

/** Why a bus refused a message it received: the `reason` label of `eventlane_bus_rejected_total`. */
export type BusRejectReason = 'not_json' | 'not_cloudevent' | 'invalid_attribute' | 'too_large';

export class InvalidBusMessageError extends EventlaneError {
  readonly reason: BusRejectReason;
  /** The CloudEvents attribute at fault (e.g. `id`, `sequence`); empty when the message as a whole is. */
  readonly attribute: string;

  constructor(reason: BusRejectReason, message: string, attribute = '', options: EventlaneErrorOptions = {}) {
    super(ErrorCodes.INVALID_BUS_MESSAGE, message, {
      ...options,
      details: { reason, attribute, ...options.details },
    });
    this.reason = reason;
    this.attribute = attribute;
  }
}

/**
 * A bus refuses one message for good: it is larger than the broker accepts. Thrown by `publish()` before anything
 * of the batch is sent; the relay parks the event rather than retry it.
 */
export class MessageTooLargeError extends EventlaneError {
  readonly bus: string;
  /** The event whose message is too large. */
  readonly eventId: string;
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(bus: string, event: { id: string; stream: string }, sizeBytes: number, limitBytes: number) {
    super(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `Event ${event.id} of stream ${JSON.stringify(event.stream)} is ${sizeBytes} bytes as a message on the ${bus} bus, over ` +
        `the bus limit of ${limitBytes} bytes. Raise the broker's limit (e.g. NATS max_payload), or store large ` +
        'payloads elsewhere; cap new events with createEventStore({ maxEventBytes: maxEventBytesFor(bus) }).',
      { details: { bus, eventId: event.id, stream: event.stream, sizeBytes, limitBytes } },
    );
    this.bus = bus;
    this.eventId = event.id;
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}
