import type { Command } from 'commander';
import { InvalidConfigError } from '../errors.js';
import { DEFAULT_OPS_HOST, DEFAULT_OPS_PORT, checkPort, startOpsServer } from '../ops/server.js';
import { cliIo, print, printJson } from './io.js';
import {
  describeDatabase,
  loadOpsConfig,
  openStore,
  requireMigrated,
  withCommonOptions,
  type CommonOptions,
} from './ops-context.js';

interface ServeOptions extends CommonOptions {
  port?: string;
  host?: string;
}

/** `eventlane serve`: /metrics, /healthz, /readyz and the admin API, until SIGINT or SIGTERM. */
export function registerServeCommand(program: Command): void {
  withCommonOptions(program.command('serve'))
    .description(
      'serve /metrics, /healthz, /readyz and the admin API (token: EVENTLANE_ADMIN_TOKEN or admin.token)',
    )
    .option(
      '--port <port>',
      `port (default: admin.port of the config, else ${DEFAULT_OPS_PORT}; 0 picks a free one)`,
    )
    .option('--host <host>', `address to bind (default: admin.host of the config, else ${DEFAULT_OPS_HOST})`)
    .action(async (options: ServeOptions) => {
      const config = await loadOpsConfig(options);
      const token = cliIo().env.EVENTLANE_ADMIN_TOKEN || config.admin?.token;
      if (token === undefined) {
        throw new InvalidConfigError(
          'eventlane serve needs an admin token: set EVENTLANE_ADMIN_TOKEN (e.g. `openssl rand -hex 32`) or admin.token in the config.',
        );
      }
      const port = checkPort(options.port ?? config.admin?.port ?? DEFAULT_OPS_PORT);
      const store = await openStore(options, config);
      try {
        await requireMigrated(store);
        const server = await startOpsServer({
          store,
          token,
          port,
          host: options.host ?? config.admin?.host,
          openReads: config.admin?.openReads === true,
          redactEventData: config.admin?.redactEventData === true,
          contracts: config.events,
          consumers: config.consumers,
          onError: (error) =>
            cliIo().err(`eventlane serve: ${error instanceof Error ? error.message : String(error)}\n`),
        });
        if (options.json) printJson({ url: server.url, schema: store.schema });
        else print(`eventlane serve: ${server.url} for ${describeDatabase(store, config)} (Ctrl-C stops)`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
      } finally {
        await store.close();
      }
    });
}
