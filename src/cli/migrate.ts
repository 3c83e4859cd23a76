import type { Command } from 'commander';
import { print, printJson } from './io.js';
import { openStore, withCommonOptions, type CommonOptions } from './ops-context.js';

/** `eventlane migrate`: applies pending migrations to the store's schema. */
export function registerMigrateCommand(program: Command): void {
  withCommonOptions(program.command('migrate'))
    .description("create or update the store's tables (safe to run from several processes at once)")
    .action(async (options: CommonOptions) => {
      const store = await openStore(options);
      try {
        const result = await store.migrate();
        if (options.json) printJson({ schema: store.schema, ...result });
        else if (result.applied.length === 0)
          print(`Schema ${store.schema} is up to date (migration ${result.current}).`);
        else print(`Applied ${result.applied.join(', ')} to schema ${store.schema}.`);
      } finally {
        await store.close();
      }
    });
}
