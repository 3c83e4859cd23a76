import net from 'node:net';

/**
 * A TCP proxy in front of a broker that the test can cut: `down()` destroys every connection and refuses new ones,
 * `up()` lets them through again. Lets a test take a real broker "away" without touching the broker.
 */
export interface TcpProxy {
  readonly port: number;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let isUp = true;
  const server = net.createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const down = (): void => {
    isUp = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port,
    down,
    up: () => {
      isUp = true;
    },
    close: () => {
      down();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
