import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { describeValue, InvalidArgumentError, type ExpectedVersion } from '../errors.js';
import type { NewEvent } from '../events/envelope.js';
import { safe } from './format.js';
import { cliIo, print, printJson } from './io.js';
import { withCommonOptions, withStore, type CommonOptions } from './ops-context.js';

/** The most JSON `append` reads: far above any append the store accepts (its `maxAppendBytes`), and still bounded. */
export const MAX_APPEND_INPUT_BYTES = 64 * 1024 * 1024;

interface AppendCliOptions extends CommonOptions {
  file?: string;
  expectedVersion?: string;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new InvalidArgumentError(
      'append reads JSON from stdin or --file: pipe it in, or pass --file <path>.',
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_APPEND_INPUT_BYTES) throw tooLarge('stdin');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(where: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `The JSON on ${where} is larger than ${MAX_APPEND_INPUT_BYTES} bytes; append smaller batches.`,
  );
}

async function readInput(file: string | undefined): Promise<string> {
  if (file === undefined || file === '-') return readStdin();
  const path = isAbsolute(file) ? file : join(cliIo().cwd, file);
  const info = await stat(path).catch(() => {
    throw new InvalidArgumentError(`--file ${JSON.stringify(file)} cannot be read: no such file.`);
  });
  if (!info.isFile()) throw new InvalidArgumentError(`--file ${JSON.stringify(file)} is not a file.`);
  if (info.size > MAX_APPEND_INPUT_BYTES) throw tooLarge(file);
  return readFile(path, 'utf8');
}

/** An event object, or an array of them, as `store.append` takes them (the store checks each one). */
export function parseEvents(text: string): NewEvent[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `The input is not JSON (${(error as Error).message}). Give an event ({"type": …, "data": …}) or an array of them.`,
    );
  }
  const events = Array.isArray(value) ? value : [value];
  if (events.length === 0)
    throw new InvalidArgumentError('The input is an empty array: there is nothing to append.');
  for (const [i, e] of events.entries()) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      throw new InvalidArgumentError(
        `events[${i}] must be an object with "type" and "data", got ${describeValue(e)}.`,
      );
    }
  }
  return events as NewEvent[];
}

/** `--expected-version`: a stream version, or one of the store's words. */
export function parseExpectedVersion(value: string | undefined): ExpectedVersion | undefined {
  if (value === undefined) return undefined;
  if (/^\d{1,15}$/.test(value)) return Number(value);
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  throw new InvalidArgumentError(
    `--expected-version must be a stream version (0, 1, …), 'no_stream', 'stream_exists' or 'any', got ${JSON.stringify(value)}.`,
  );
}

/** `eventlane append <stream>`: appends events given as JSON on stdin or in a file. */
export function registerAppendCommand(program: Command): void {
  withCommonOptions(program.command('append'))
    .argument('<stream>', 'the stream to append to')
    .description('append events (a JSON event or array of events, on stdin or in --file) to a stream')
    .option('--file <path>', 'read the JSON from this file (default: stdin)')
    .option(
      '--expected-version <v>',
      "the stream's version the append expects: a number, no_stream, stream_exists or any",
    )
    .action(async (stream: string, options: AppendCliOptions) => {
      // Input is checked before the database is opened: a bad file or flag costs no connection.
      const expectedVersion = parseExpectedVersion(options.expectedVersion);
      const events = parseEvents(await readInput(options.file));
      await withStore(options, async (store) => {
        const result = await store.append(stream, events, { expectedVersion });
        if (options.json) printJson({ ...result, globalPosition: String(result.globalPosition) });
        else if (result.duplicate)
          print(`Already stored: these ${events.length} events were appended to ${safe(stream)} before.`);
        else
          print(
            `Appended ${events.length} event${events.length === 1 ? '' : 's'} to ${safe(stream)}: version ` +
              `${result.streamVersion}, checkpoint ${result.checkpoint}.`,
          );
      });
    });
}
