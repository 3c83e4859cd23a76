import { describe, expect, it } from 'vitest';
import { createEventStore, isEventlaneError } from '../../src/index.js';
import { natsBus } from '../../src/bus/nats/index.js';
import { rabbitmqBus } from '../../src/bus/rabbitmq/index.js';
import { redisBus } from '../../src/bus/redis/index.js';
import { uniqueSchema } from '../support/stores.js';

// A password in the user info and a secret in the query string: neither may reach anything a person or a
// logger sees.
const PASSWORD = 'Pw-hunter2-zq';
const QUERY_SECRET = 'Qs-4815162342';

/** Everything of an error that ends up in logs: message, stack, details, JSON form and the cause's message. */
function visible(error: unknown): string {
  const e = error as {
    message?: string;
    stack?: string;
    details?: unknown;
    cause?: { message?: string; stack?: string };
  };
  return [
    e?.message,
    e?.stack,
    JSON.stringify(e?.details),
    JSON.stringify(error),
    String(e?.cause?.message),
    String(e?.cause?.stack),
    JSON.stringify(e?.cause),
  ].join('\n');
}

async function failure(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

function expectRedacted(error: unknown, code: string): void {
  expect(isEventlaneError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  const text = visible(error);
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(QUERY_SECRET);
  expect((error as Error).message).toContain('***');
}

const closed = '127.0.0.1:1'; // Nothing listens on port 1 of the loopback: the connection is refused at once.

describe('connection strings with secrets never reach an error', () => {
  describe('PostgreSQL store', () => {
    it('unreachable host', async () => {
      const error = await failure(() =>
        createEventStore({
          url: `postgres://app:${PASSWORD}@${closed}/db?password=${QUERY_SECRET}&sslmode=disable`,
          schema: uniqueSchema(),
        }),
      );
      expectRedacted(error, 'EVENTLANE_CONNECTION');
    });

    it.each([
      ['an unparsable host', `postgres://app:${PASSWORD}@[bad/db?password=${QUERY_SECRET}`],
      ['a port out of range', `postgres://app:${PASSWORD}@127.0.0.1:99999/db?password=${QUERY_SECRET}`],
      ['a wrong scheme', `pg://app:${PASSWORD}@127.0.0.1/db?sslpassword=${QUERY_SECRET}`],
    ])('malformed URL: %s', async (_, url) => {
      expectRedacted(await failure(() => createEventStore({ url })), 'EVENTLANE_INVALID_ARGUMENT');
    });
  });

  describe('NATS', () => {
    it('unreachable servers', async () => {
      const bus = natsBus({
        servers: [`nats://app:${PASSWORD}@${closed}?token=${QUERY_SECRET}`, `nats://${PASSWORD}@127.0.0.1:2`],
        connectTimeoutMs: 2000,
      });
      const error = await failure(() => bus.connect({ partitions: 1 }));
      await bus.close();
      expectRedacted(error, 'EVENTLANE_BUS_UNREACHABLE');
    });

    it.each([
      ['no //', `nats//app:${PASSWORD}@${closed}?token=${QUERY_SECRET}`],
      ['an unparsable host', `nats://app:${PASSWORD}@[bad?token=${QUERY_SECRET}`],
    ])('malformed server: %s', async (_, server) => {
      const error = await failure(() => natsBus({ servers: ['nats://127.0.0.1:4222', server] }));
      expectRedacted(error, 'EVENTLANE_INVALID_ARGUMENT');
    });
  });

  describe('RabbitMQ', () => {
    it('unreachable broker', async () => {
      const bus = rabbitmqBus({
        url: `amqp://app:${PASSWORD}@${closed}/?password=${QUERY_SECRET}`,
        connectTimeoutMs: 2000,
      });
      const error = await failure(() => bus.connect({ partitions: 1 }));
      await bus.close();
      expectRedacted(error, 'EVENTLANE_BUS_UNREACHABLE');
    });

    it('refused login', async () => {
      const bus = rabbitmqBus({
        url: `amqp://nobody:${PASSWORD}@127.0.0.1:5672/?password=${QUERY_SECRET}`,
        connectTimeoutMs: 5000,
      });
      const error = await failure(() => bus.connect({ partitions: 1 }));
      await bus.close();
      expectRedacted(error, 'EVENTLANE_BUS_AUTHENTICATION');
    });

    it.each([
      ['one /', `amqp:/app:${PASSWORD}@${closed}/?password=${QUERY_SECRET}`],
      ['an unparsable host', `amqp://app:${PASSWORD}@[bad/?password=${QUERY_SECRET}`],
    ])('malformed URL: %s', async (_, url) => {
      expectRedacted(await failure(() => rabbitmqBus({ url })), 'EVENTLANE_INVALID_ARGUMENT');
    });
  });

  describe('Redis', () => {
    it('unreachable server', async () => {
      const bus = redisBus({
        url: `redis://app:${PASSWORD}@${closed}/0?password=${QUERY_SECRET}`,
        connectTimeoutMs: 2000,
      });
      const error = await failure(() => bus.connect({ partitions: 1 }));
      await bus.close();
      expectRedacted(error, 'EVENTLANE_BUS_UNREACHABLE');
    });

    it('refused credentials (the AUTH command and its arguments stay out of the cause)', async () => {
      const bus = redisBus({
        url: `redis://nobody:${PASSWORD}@127.0.0.1:6379/0?password=${QUERY_SECRET}`,
        connectTimeoutMs: 5000,
      });
      const error = await failure(() => bus.connect({ partitions: 1 }));
      await bus.close();
      expectRedacted(error, 'EVENTLANE_BUS_AUTHENTICATION');
    });

    it.each([
      ['no //', `redis:app:${PASSWORD}@${closed}/?password=${QUERY_SECRET}`],
      ['an unparsable host', `redis://app:${PASSWORD}@[bad/?password=${QUERY_SECRET}`],
    ])('malformed URL: %s', async (_, url) => {
      expectRedacted(await failure(() => redisBus({ url })), 'EVENTLANE_INVALID_ARGUMENT');
    });
  });
});
