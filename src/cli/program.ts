import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isEventlaneError } from '../errors.js';
import { EXIT, registerContractsCommands } from './contracts.js';
import { registerReplayCommands } from './replay.js';

function packageVersion(): string {
  // src/cli and dist/cli are both two folders below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The `eventlane` command. Each area registers its own group (`contracts` now; more later). */
export function buildProgram(): Command {
  const program = new Command('eventlane')
    .description('eventlane: event-driven systems on PostgreSQL')
    .version(packageVersion())
    .showHelpAfterError();
  registerContractsCommands(program);
  registerReplayCommands(program);
  return program;
}

/** Runs the CLI; eventlane's own errors print their message (no stack) and exit 2. */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    if (isEventlaneError(error)) {
      process.stderr.write(`eventlane: ${error.message}\n`);
      process.exitCode = EXIT.USAGE;
      return;
    }
    throw error;
  }
}
