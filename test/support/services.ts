import net from 'node:net';

/** The real services the integration tests talk to, and where. Override with the environment variables. */
export const SERVICES = {
  postgres: {
    url: process.env.EVENTLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    port: 5432,
  },
  nats: { url: process.env.EVENTLANE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222', port: 4222 },
  rabbitmq: { url: process.env.EVENTLANE_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672', port: 5672 },
  redis: { url: process.env.EVENTLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', port: 6379 },
} as const;

export type ServiceName = keyof typeof SERVICES;

function hostPort(url: string, fallbackPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : fallbackPort };
}

/** True when a TCP connection to the service opens within `timeoutMs`. */
export function reachable(name: ServiceName, timeoutMs = 1500): Promise<boolean> {
  const { host, port } = hostPort(SERVICES[name].url, SERVICES[name].port);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
