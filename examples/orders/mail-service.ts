/**
 * A stand-in for a mail provider, on 127.0.0.1 (a free port): `POST /receipts` with an `Idempotency-Key` header sends
 * a receipt once per key; a repeat of a key is answered 200 `{ duplicate: true }` and sends nothing, as real
 * providers do. To show why the key matters, it loses the response of some first sends (the mail went out, the
 * caller saw a broken connection and will try again with the same key).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MailStats {
  /** Receipts sent: one per distinct idempotency key. */
  sent: number;
  /** Requests that repeated a key already sent, and were ignored. */
  repeats: number;
  /** First sends whose response was dropped on purpose. */
  lostResponses: number;
  /** Orders that got more than one receipt (under different keys): must stay 0. */
  ordersReceiptedTwice: number;
}

export interface MailService {
  readonly url: string;
  stats(): MailStats;
  /** Receipts by the order they are for. */
  receiptsFor(order: string): number;
  close(): Promise<void>;
}

/** Sends a receipt through the service; throws on a lost response or an error status (the reactor retries). */
export async function sendReceipt(
  url: string,
  idempotencyKey: string,
  receipt: { to: string; order: string; amount: number },
): Promise<{ messageId: string; duplicate: boolean }> {
  const res = await fetch(`${url}/receipts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(receipt),
  });
  if (!res.ok) throw new Error(`mail service answered ${res.status}: ${await res.text()}`);
  const body: unknown = await res.json();
  if (
    typeof body !== 'object' ||
    body === null ||
    !('messageId' in body) ||
    typeof body.messageId !== 'string'
  ) {
    throw new Error('mail service answered without a messageId');
  }
  return { messageId: body.messageId, duplicate: 'duplicate' in body && body.duplicate === true };
}

async function readBody(req: IncomingMessage, limit = 16 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > limit) throw new Error('body too large');
  }
  return text;
}

/** Starts the service. `loseEvery`: the response of every n-th first send is dropped (0: never). */
export async function startMailService(options: { loseEvery?: number } = {}): Promise<MailService> {
  const loseEvery = options.loseEvery ?? 0;
  const keys = new Set<string>();
  const perOrder = new Map<string, number>();
  const stats: MailStats = { sent: 0, repeats: 0, lostResponses: 0, ordersReceiptedTwice: 0 };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const key = req.headers['idempotency-key'];
      if (req.method !== 'POST' || req.url !== '/receipts') {
        res.writeHead(404).end();
        return;
      }
      if (typeof key !== 'string' || key.length === 0 || key.length > 300) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'an Idempotency-Key header is required' }));
        return;
      }
      let receipt: unknown;
      try {
        receipt = JSON.parse(await readBody(req));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const order =
        typeof receipt === 'object' &&
        receipt !== null &&
        'order' in receipt &&
        typeof receipt.order === 'string'
          ? receipt.order
          : '?';
      if (keys.has(key)) {
        stats.repeats++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ messageId: `msg-${key}`, duplicate: true }));
        return;
      }
      keys.add(key);
      stats.sent++;
      perOrder.set(order, (perOrder.get(order) ?? 0) + 1);
      if (loseEvery > 0 && stats.sent % loseEvery === 0) {
        stats.lostResponses++;
        req.socket.destroy(); // sent, but the caller never hears so
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ messageId: `msg-${key}`, duplicate: false }));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats, ordersReceiptedTwice: [...perOrder.values()].filter((n) => n > 1).length }),
    receiptsFor: (order) => perOrder.get(order) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
