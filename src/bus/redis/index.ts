import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { BusError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { encodeCloudEvent } from '../cloudevents.js';
import { createIntake, headerText, type BusIntakeOptions } from '../intake.js';
import { refuseOversized } from '../limits.js';
import { checkDuration, checkName, checkPositiveInt, withTimeout } from '../options.js';
import type {
  Bus,
  BusConnectOptions,
  BusMessage,
  Delivery,
  SubscribeOptions,
  Subscription,
} from '../types.js';
import { parsesAsUrl, redactedError, redactText, redactUrl } from '../../redact.js';

export interface RedisBusOptions extends BusIntakeOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS, `redis://:password@host`). */
  url: string;
  /** Streams are `<keyPrefix>:p<partition>`. @defaultValue 'eventlane' */
  keyPrefix?: string;
  /** Other ioredis options (username, password, tls, …). */
  redis?: RedisOptions;
  /** @defaultValue 5000 */
  connectTimeoutMs?: number;
  /**
   * An entry delivered to a consumer that has not acknowledged it for this long (a crashed or stuck instance) is
   * claimed by another instance of the same consumer group with XAUTOCLAIM and delivered again. @defaultValue 30000
   */
  claimIdleMs?: number;
  /**
   * Deliveries of one entry before it is moved to the stream `<keyPrefix>:dead:<consumer>` (with the partition and
   * the original entry id) and acknowledged. @defaultValue 10
   */
  maxDeliveries?: number;
  /** Entries read per XREADGROUP and most unacknowledged deliveries per subscription. @defaultValue 256 */
  maxInFlight?: number;
  /**
   * Approximate cap on each partition stream's length (XADD MAXLEN ~). Unset keeps everything; a cap drops the
   * oldest entries even when a consumer group has not read them yet. @defaultValue none
   */
  maxLen?: number;
  /**
   * Largest entry to publish; a larger event is refused (`MessageTooLargeError`) and parked by the relay. Set it to
   * the server's `proto-max-bulk-len` when that was lowered. @defaultValue 536870912 (Redis' 512 MB)
   */
  maxMessageBytes?: number;
}

function connectError(error: unknown, where: string): BusError {
  // The driver's message may quote the URL it was given.
  const message = redactText((error as Error)?.message ?? String(error));
  const auth = /WRONGPASS|NOAUTH|NOPERM|invalid password|AUTH/i.test(message);
  return new BusError(
    auth ? ErrorCodes.BUS_AUTHENTICATION : ErrorCodes.BUS_UNREACHABLE,
    'redis',
    auth
      ? `Redis at ${where} refused the credentials (${message}). Check the username and password.`
      : `Cannot connect to Redis at ${where} (${message}). Check that Redis runs and the URL is right.`,
    { cause: redactedError(error) },
  );
}

type StreamEntry = [id: string, fields: string[] | null];

function fieldOf(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * The reply of XREADGROUP as [key, entries] pairs, whatever its shape: RESP2 gives `[[key, entries], …]`, while
 * ioredis 6 on RESP3 gives a map, flattened to `[key, entries, key, entries, …]` or an object.
 */
function streamsReply(reply: unknown): [string, StreamEntry[]][] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    if (reply.length === 0) return [];
    if (Array.isArray(reply[0])) return reply as [string, StreamEntry[]][];
    const pairs: [string, StreamEntry[]][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2)
      pairs.push([String(reply[i]), reply[i + 1] as StreamEntry[]]);
    return pairs;
  }
  if (reply instanceof Map) return [...(reply as Map<string, StreamEntry[]>).entries()];
  return Object.entries(reply as Record<string, StreamEntry[]>);
}

/**
 * Redis Streams: one stream per partition, a consumer group per consumer name, XACK on ack, and XAUTOCLAIM to take
 * over entries a crashed or stuck instance left pending. Redis acknowledges a write when it is in memory; its
 * durability is that of the server's persistence settings (AOF with `appendfsync always` for the strongest).
 */
export function redisBus(options: RedisBusOptions): Bus {
  const url = options?.url;
  if (typeof url !== 'string' || !/^rediss?:\/\/[^/]*/.test(url) || !parsesAsUrl(url)) {
    throw new InvalidArgumentError(
      `redisBus needs url such as 'redis://127.0.0.1:6379' (user and password percent-encoded), got ${
        typeof url === 'string' ? JSON.stringify(redactUrl(url)) : typeof url
      }.`,
    );
  }
  const where = redactUrl(url);
  const prefix = checkName(options.keyPrefix ?? 'eventlane', 'keyPrefix', /^[A-Za-z0-9_.:-]{1,100}$/);
  const connectTimeoutMs = checkDuration(options.connectTimeoutMs, 'connectTimeoutMs', 5000);
  const claimIdleMs = checkDuration(options.claimIdleMs, 'claimIdleMs', 30_000);
  const maxDeliveries = checkPositiveInt(options.maxDeliveries, 'maxDeliveries', 10);
  const maxInFlight = checkPositiveInt(options.maxInFlight, 'maxInFlight', 256);
  const maxLen = options.maxLen === undefined ? undefined : checkPositiveInt(options.maxLen, 'maxLen', 1);
  const key = (p: number): string => `${prefix}:p${p}`;
  const deadKey = (group: string): string => `${prefix}:dead:${group}`;
  const deadLetter = options.deadLetter ?? true;
  const intake = createIntake('redis', options);
  const maxMessageBytes = checkPositiveInt(options.maxMessageBytes, 'maxMessageBytes', 512 * 1024 * 1024);

  let partitions = 0;
  let closed = false;
  let client: Redis | undefined;
  const subscriptions = new Set<Subscription>();

  const newClient = async (): Promise<Redis> => {
    let c: Redis;
    try {
      c = new Redis(url, {
        lazyConnect: true,
        connectTimeout: connectTimeoutMs,
        // Fail commands at once while disconnected, so the relay backs off instead of queueing in memory.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: () => 250,
        ...options.redis,
      });
    } catch (error) {
      // ioredis parses the URL here; its error may carry the raw URL (as `input`), so it is not kept as the cause.
      throw new InvalidArgumentError(
        `redisBus could not use url ${JSON.stringify(where)} (${redactText((error as Error)?.message ?? String(error))}).`,
      );
    }
    let lastError: unknown;
    c.on('error', (error) => {
      // Reconnection is automatic; failed commands reject and the relay retries. Without a listener, Node would
      // treat the error event as fatal. The last one explains a failed connect (e.g. WRONGPASS) better than
      // "Connection is closed".
      lastError = error;
    });
    try {
      await withTimeout(
        c.connect(),
        connectTimeoutMs + 500,
        () => new Error(`no answer within ${connectTimeoutMs} ms`),
      );
      await c.ping();
    } catch (error) {
      c.disconnect();
      throw connectError(lastError ?? error, where);
    }
    return c;
  };

  const usable = async (): Promise<Redis> => {
    if (closed)
      throw new BusError(ErrorCodes.BUS_CLOSED, 'redis', 'The Redis bus was closed; create a new one.');
    client ??= await newClient();
    return client;
  };

  return {
    kind: 'redis',
    maxMessageBytes,
    async connect(connectOptions: BusConnectOptions): Promise<void> {
      partitions = connectOptions.partitions;
      await usable();
    },

    async publish(messages: readonly BusMessage[]): Promise<void> {
      const c = await usable();
      refuseOversized('redis', messages, maxMessageBytes);
      const pipeline = c.pipeline();
      for (const m of messages) {
        const payload = m.payload ?? encodeCloudEvent(m.event, { partition: m.partition });
        if (maxLen === undefined) pipeline.xadd(key(m.partition), '*', 'id', m.event.id, 'ce', payload);
        else pipeline.xadd(key(m.partition), 'MAXLEN', '~', maxLen, '*', 'id', m.event.id, 'ce', payload);
      }
      let results: [Error | null, unknown][] | null;
      try {
        results = await pipeline.exec();
      } catch (error) {
        throw new BusError(
          ErrorCodes.BUS_PUBLISH,
          'redis',
          `Redis did not take a batch of ${messages.length} entries (${(error as Error).message}); it will be published again.`,
          { cause: error },
        );
      }
      const failed = results?.find(([e]) => e !== null);
      if (!results || failed) {
        throw new BusError(
          ErrorCodes.BUS_PUBLISH,
          'redis',
          `Redis refused part of a batch of ${messages.length} entries (${failed?.[0]?.message ?? 'no reply'}); it will be published again.`,
          { cause: failed?.[0] },
        );
      }
    },

    async subscribe(subscribeOptions: SubscribeOptions): Promise<Subscription> {
      const group = checkName(subscribeOptions.consumer, 'consumer', /^[A-Za-z0-9_-]{1,100}$/);
      const c = await usable();
      const keys: string[] = [];
      const partitionOfKey = new Map<string, number>();
      for (const p of subscribeOptions.partitions) {
        if (!Number.isInteger(p) || p < 0 || p >= partitions) {
          throw new InvalidArgumentError(
            `Partition ${String(p)} does not exist: this store has partitions 0 to ${partitions - 1}.`,
          );
        }
        keys.push(key(p));
        partitionOfKey.set(key(p), p);
        try {
          // From the stream's start: a group created after the relay began must still see what was published.
          await c.call('XGROUP', 'CREATE', key(p), group, '0', 'MKSTREAM');
        } catch (error) {
          if (!/BUSYGROUP/.test((error as Error).message)) throw error;
        }
      }
      // Blocking reads need a connection of their own.
      const reader = await newClient();
      const dead = deadLetter ? deadKey(group) : undefined;
      const me = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
      const limit = subscribeOptions.maxInFlight ?? maxInFlight;
      let open = true;
      let inFlight = 0;
      let wakeReader: (() => void) | undefined;

      const deliver = (k: string, id: string, fields: string[] | null, attempt: number): void => {
        const p = partitionOfKey.get(k)!;
        if (fields === null) {
          // Deleted or trimmed since it was read: nothing to deliver; acknowledge so it does not come back.
          void c.xack(k, group, id).catch(() => undefined);
          return;
        }
        // An entry without the `ce` field was not written by the relay: refused like any other bad message.
        const ce = fieldOf(fields, 'ce') ?? JSON.stringify(fields);
        // Copy (when `why` is given) and acknowledgement in one MULTI; when it fails the entry stays pending, is
        // claimed again after claimIdleMs and handled again: never lost silently.
        const setAside = (why: string[] | undefined): void => {
          const move = c.multi();
          if (why) move.xadd(deadKey(group), '*', 'partition', String(p), 'entry', id, ...why, 'ce', ce);
          void move
            .xack(k, group, id)
            .exec()
            .catch(() => undefined);
        };
        // Poison: park it where an operator can look, and stop it from coming back.
        if (attempt > maxDeliveries) return setAside(['attempts', String(attempt - 1)]);
        const decoded = intake(ce, {
          consumer: group,
          partition: p,
          onReject: subscribeOptions.onReject,
          deadLetter: dead,
        });
        if ('rejection' in decoded) {
          const { reason, error } = decoded.rejection;
          return setAside(dead ? ['reason', reason, 'error', headerText(error.message)] : undefined);
        }
        inFlight++;
        let settled = false;
        const release = (): void => {
          settled = true;
          inFlight--;
          wakeReader?.();
        };
        const delivery: Delivery = {
          event: decoded.event,
          partition: p,
          attempt,
          ack: async () => {
            if (settled) return;
            release();
            await c.xack(k, group, id);
          },
          nack: (delayMs = 0) => {
            if (settled) return Promise.resolve();
            release();
            // The entry stays pending for this consumer; claim it back after the delay and deliver it again.
            setTimeout(
              () => {
                if (!open) return;
                c.call('XCLAIM', k, group, me, '0', id)
                  .then((claimed) => {
                    for (const [cid, cf] of (claimed as StreamEntry[] | null) ?? [])
                      deliver(k, cid, cf, attempt + 1);
                  })
                  .catch(() => undefined);
              },
              Math.max(0, delayMs),
            ).unref();
            return Promise.resolve();
          },
        };
        try {
          subscribeOptions.onMessage(delivery).catch(() => delivery.nack());
        } catch {
          void delivery.nack();
        }
      };

      const readLoop = (async () => {
        while (open) {
          if (inFlight >= limit) {
            await new Promise<void>((resolve) => {
              wakeReader = resolve;
              setTimeout(resolve, 200).unref();
            });
            wakeReader = undefined;
            continue;
          }
          try {
            const reply = streamsReply(
              await reader.call(
                'XREADGROUP',
                'GROUP',
                group,
                me,
                'COUNT',
                String(limit - inFlight),
                'BLOCK',
                '1000',
                'STREAMS',
                ...keys,
                ...keys.map(() => '>'),
              ),
            ) as [string, StreamEntry[]][] | null;
            for (const [k, entries] of reply ?? [])
              for (const [id, fields] of entries) deliver(k, id, fields, 1);
          } catch {
            if (open) await new Promise((r) => setTimeout(r, 250));
          }
        }
      })();

      // Entries another instance took and never acknowledged (crash, hang) come back here after claimIdleMs.
      const claimTimer = setInterval(
        () => {
          for (const k of keys) {
            c.call('XAUTOCLAIM', k, group, me, String(claimIdleMs), '0-0', 'COUNT', '100')
              .then((r) => {
                const entries = ((r as [string, StreamEntry[]])[1] ?? []).filter(([, f]) => f !== null);
                for (const [id, fields] of entries) {
                  // XAUTOCLAIM counted this delivery; XPENDING tells how many there were.
                  c.call('XPENDING', k, group, id, id, '1')
                    .then((pending) => {
                      const count = Number((pending as [string, string, number, number][])[0]?.[3] ?? 2);
                      deliver(k, id, fields, count);
                    })
                    .catch(() => deliver(k, id, fields, 2));
                }
              })
              .catch(() => undefined);
          }
        },
        Math.max(100, Math.floor(claimIdleMs / 2)),
      );
      claimTimer.unref();

      const sub: Subscription = {
        close: async () => {
          open = false;
          clearInterval(claimTimer);
          subscriptions.delete(sub);
          reader.disconnect();
          await readLoop;
        },
      };
      subscriptions.add(sub);
      return sub;
    },

    async close(): Promise<void> {
      closed = true;
      for (const s of [...subscriptions]) await s.close();
      client?.disconnect();
      client = undefined;
    },
  };
}
