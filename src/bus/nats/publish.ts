import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

/** What one publish waits for: the stream's acknowledgement, or the reason there is none. */
interface Waiter {
  subject: string;
  resolve(): void;
  reject(error: Error): void;
}

/** One message to publish to JetStream: the event id goes as `Nats-Msg-Id` (the server's de-duplication). */
export interface JetStreamMessage {
  subject: string;
  data: Uint8Array | string;
  msgId: string;
}

/**
 * JetStream publishing for the relay: each message is a plain publish whose reply subject falls under one inbox
 * subscription per connection, and a batch waits for its acknowledgements under one timer. The client's own
 * `js.publish` is a request per message (a timer, a reply registration and three error objects with their stack
 * traces each), which cost the relay more than the publishing itself and, in a process that also runs a worker,
 * held that worker's event loop up. The messages and the acknowledgements are the same as with `js.publish`.
 */
export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #waiting = new Map<string, Waiter>();
  #next = 0;

  constructor(nc: NatsConnection, inboxPrefix?: string) {
    this.#nc = nc;
    this.#inbox = createInbox(inboxPrefix);
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => (error ? this.#failAll(error) : this.#settle(msg)),
    });
  }

  /** Whether this publisher still serves `nc` (a closed connection is replaced, and its publisher with it). */
  serves(nc: NatsConnection | undefined): boolean {
    return nc === this.#nc && !this.#sub.isClosed();
  }

  /**
   * Publishes every message at once (one connection: per-subject order is the send order), then waits for all
   * acknowledgements, at most `timeoutMs`. One result per message, as `Promise.allSettled` gives them.
   */
  async publishAll(
    messages: readonly JetStreamMessage[],
    timeoutMs: number,
  ): Promise<PromiseSettledResult<void>[]> {
    const tokens: string[] = [];
    const acks = messages.map((m) => {
      const token = (this.#next++).toString(36);
      tokens.push(token);
      const ack = new Promise<void>((resolve, reject) =>
        this.#waiting.set(token, { subject: m.subject, resolve, reject }),
      );
      try {
        const h = natsHeaders();
        h.set('Nats-Msg-Id', m.msgId);
        this.#nc.publish(m.subject, m.data, { reply: `${this.#inbox}.${token}`, headers: h });
      } catch (error) {
        this.#take(token)?.reject(error as Error);
      }
      return ack;
    });
    const timer = setTimeout(() => {
      const timeout = new Error(`no acknowledgement within ${timeoutMs} ms`);
      for (const token of tokens) this.#take(token)?.reject(timeout);
    }, timeoutMs);
    try {
      return await Promise.allSettled(acks);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops listening; publishes still waiting fail at once. */
  close(): void {
    this.#failAll(new Error('the connection was closed'));
    if (!this.#sub.isClosed()) this.#sub.unsubscribe();
  }

  #take(token: string): Waiter | undefined {
    const waiter = this.#waiting.get(token);
    this.#waiting.delete(token);
    return waiter;
  }

  #failAll(error: Error): void {
    for (const token of [...this.#waiting.keys()]) this.#take(token)?.reject(error);
  }

  #settle(msg: Msg): void {
    const waiter = this.#take(msg.subject.slice(this.#inbox.length + 1));
    if (!waiter) return; // After its timeout: the batch failed and is published again (the id de-duplicates).
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiter.reject(new Error(`no JetStream stream takes subject ${waiter.subject} (no responders)`));
      return;
    }
    let ack: { stream?: string; error?: { description?: string; code?: number; err_code?: number } };
    try {
      ack = JSON.parse(msg.string()) as typeof ack;
    } catch {
      waiter.reject(new Error('JetStream answered with something other than a publish acknowledgement'));
      return;
    }
    if (ack.error) {
      const code = ack.error.err_code ?? ack.error.code;
      waiter.reject(
        new Error(`JetStream refused the message: ${ack.error.description ?? 'no reason given'} (${code})`),
      );
    } else if (!ack.stream) {
      waiter.reject(new Error('JetStream answered with an invalid publish acknowledgement'));
    } else {
      waiter.resolve();
    }
  }
}
