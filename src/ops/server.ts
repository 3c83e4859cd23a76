import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeValue, InvalidConfigError } from '../errors.js';
import { createOpsHandler, type OpsHandlerOptions } from './http/handler.js';

/** The port `eventlane serve` listens on unless told otherwise. */
export const DEFAULT_OPS_PORT = 9464;
/** Loopback only: exposing the admin API to a network is a decision to make explicitly. */
export const DEFAULT_OPS_HOST = '127.0.0.1';

export interface OpsServerOptions extends OpsHandlerOptions {
  /** 0 picks a free port. @defaultValue 9464 */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
}

export interface OpsServer {
  /** e.g. `http://127.0.0.1:9464` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections, ends open ones and resolves when the server is closed. The store stays open. */
  close(): Promise<void>;
}

export function checkPort(port: unknown): number {
  const n = typeof port === 'string' && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidConfigError(`port must be a whole number from 0 to 65535, got ${describeValue(port)}.`);
  }
  return n;
}

/** Serves the admin API, /metrics, /healthz and /readyz on its own HTTP server. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const port = checkPort(options.port ?? DEFAULT_OPS_PORT);
  const host = options.host ?? DEFAULT_OPS_HOST;
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) {
    throw new InvalidConfigError(`host must be a host name or address, got ${describeValue(host)}.`);
  }
  const handler = createOpsHandler(options);
  const server = createServer((req, res) => void handler.listener(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      void handler.close();
      reject(
        new InvalidConfigError(
          `Cannot listen on ${host}:${port}: ${error.code ?? error.message}. Pick another --port or --host.`,
          { host, port },
          error,
        ),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => handler.close()),
  };
}
