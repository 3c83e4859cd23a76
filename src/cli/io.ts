// Where the CLI writes and what it reads from the environment: the process by default, a capture in tests.

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Set by commands; `runCli` hands it to the process. */
  exitCode: number;
}

let active: CliIo | undefined;

export function cliIo(): CliIo {
  active ??= {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    exitCode: 0,
  };
  return active;
}

/** Replaces the process I/O (tests run commands in-process); undefined restores it. */
export function setCliIo(io: CliIo | undefined): void {
  active = io;
}

/** Writes one line (or block) to stdout. */
export function print(text: string): void {
  cliIo().out(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes a value as indented JSON to stdout. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

/** Exit codes of the operator commands (the contracts commands use 0, 1 and 2 the same way). */
export const EXIT_CODES = {
  OK: 0,
  /** The command ran and found a problem: drift, a breaking change. */
  FOUND: 1,
  /** Bad arguments, a bad or missing config, bad input. */
  USAGE: 2,
  /** The database cannot be reached (or timed out). */
  UNAVAILABLE: 3,
  /** What the command names does not exist: consumer, parked event, event, projection. */
  NOT_FOUND: 4,
  /** The state does not allow it (nothing to retry), or the schema needs `eventlane migrate`. */
  CONFLICT: 5,
} as const;
