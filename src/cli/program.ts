import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAppendCommand } from './append.js';
import { registerArchiveCommand } from './archive.js';
import { registerContractsCommands } from './contracts.js';
import { cliIo, EXIT_CODES, setCliIo, type CliIo } from './io.js';
import { registerMigrateCommand } from './migrate.js';
import { reportError } from './ops-context.js';
import { registerParkedCommands } from './parked.js';
import { registerProjectionsCommands } from './projections.js';
import { registerReadCommand } from './read.js';
import { registerReplayCommands } from './replay.js';
import { registerRetentionCommands } from './retention.js';
import { registerServeCommand } from './serve.js';
import { registerStatusCommand } from './status.js';

function packageVersion(): string {
  // src/cli and dist/cli are both two folders below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The `eventlane` command. Each area registers its own group, one line each. */
export function buildProgram(): Command {
  const program = new Command('eventlane')
    .description('eventlane: event-driven systems on PostgreSQL')
    .version(packageVersion())
    .showHelpAfterError();
  registerContractsCommands(program);
  registerMigrateCommand(program);
  registerStatusCommand(program);
  registerReadCommand(program);
  registerAppendCommand(program);
  registerParkedCommands(program);
  registerProjectionsCommands(program);
  registerServeCommand(program);
  registerReplayCommands(program);
  registerRetentionCommands(program);
  registerArchiveCommand(program);
  return program;
}

/** Commander's usage errors and --help/--version, with its output sent to the CLI's I/O. */
function configure(command: Command, io: CliIo): void {
  command.exitOverride().configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  for (const sub of command.commands) configure(sub, io);
}

/**
 * Runs the CLI and returns its exit code (also set on the process): 0 ok, 1 a problem found (drift, breaking
 * change) or an unexpected error, 2 bad usage or config, 3 database unreachable, 4 not found, 5 not allowed now.
 * Errors print one line and a hint; `--verbose` adds the stack. `io` replaces the process's streams (tests).
 */
export async function runCli(argv: readonly string[], io?: CliIo): Promise<number> {
  if (io !== undefined) setCliIo(io);
  const active = cliIo();
  active.exitCode = 0;
  process.exitCode = undefined;
  const program = buildProgram();
  configure(program, active);
  let code: number;
  try {
    await program.parseAsync([...argv]);
    code = active.exitCode || Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; a usage error (unknown option, missing argument) is a usage error.
      code = error.exitCode === 0 ? EXIT_CODES.OK : EXIT_CODES.USAGE;
    } else {
      code = reportError(error, argv.includes('--verbose'));
    }
  } finally {
    if (io !== undefined) setCliIo(undefined);
  }
  process.exitCode = code;
  return code;
}
