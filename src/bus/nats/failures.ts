/** The NATS bus's failure paths: a connection that cannot be opened, and messages it refuses. */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { BusError, ErrorCodes } from '../../errors.js';
import { headerText } from '../intake.js';
import { redactedError, redactText } from '../../redact.js';

/** Maps a failure to open the connection to a typed error. */
export function connectError(error: unknown, where: string): BusError {
  const e = error as { name?: string; message?: string; code?: string };
  const auth = e.name === 'AuthorizationError' || /authori[sz]ation|auth/i.test(e.message ?? '');
  const message = redactText(e?.message ?? String(error));
  return new BusError(
    auth ? ErrorCodes.BUS_AUTHENTICATION : ErrorCodes.BUS_UNREACHABLE,
    'nats',
    auth
      ? `NATS at ${where} refused the credentials (${message}). Check user, pass, token or creds.`
      : `Cannot connect to NATS at ${where} (${message}). ` +
          'Check that the server runs with JetStream enabled (-js) and that the URL is right.',
    { cause: redactedError(error) },
  );
}

/** Copies a refused message to the dead-letter subject (when on), then acknowledges it. */
export async function setAside(
  js: JetStreamClient,
  m: JsMsg,
  dlq: string | undefined,
  reason: string,
  error: string,
  consumer: string,
  partition: number,
): Promise<void> {
  try {
    if (dlq) {
      const h = natsHeaders();
      h.set('Eventlane-Reject-Reason', reason);
      h.set('Eventlane-Reject-Error', headerText(error));
      h.set('Eventlane-Consumer', consumer);
      h.set('Eventlane-Partition', String(partition));
      h.set('Eventlane-Original-Subject', m.subject);
      h.set('Eventlane-Original-Sequence', String(m.seq));
      // The id makes a copy made twice (a redelivery after a lost ack) one message within the duplicate window.
      await js.publish(dlq, m.data, { headers: h, msgID: `dlq-${consumer}-${m.info.stream}-${m.seq}` });
    }
    m.ack();
  } catch {
    // No copy, no ack: the message comes back after a while and is refused again, never lost silently.
    try {
      m.nak(1000);
    } catch {
      // The connection is gone: the server redelivers after ack wait.
    }
  }
}
