/** Option parsing shared by the subcommands: node:util's parseArgs, with usage errors and `--help`. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../core/errors.js';
import { UsageError } from '../operator/usage.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

/**
 * Parses `argv` with `options` and `-h`/`--help`: undefined when help was asked (the command's help is then
 * written), else the values and positionals. Unknown options (and positionals, unless allowed) are usage errors
 * naming the command.
 */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: O,
  help: string,
  io: Pick<CliIo, 'stdout'>,
  { positionals = false } = {},
) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as O,
      strict: true,
      allowPositionals: positionals,
    });
  } catch (err) {
    throw new UsageError(`${command}: ${errorMessage(err)} (xiot ${command} --help)`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(`${help}\n`);
    return undefined;
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export function checkLogLevel(level: string | undefined): void {
  if (level !== undefined && !LOG_LEVELS.includes(level))
    throw new UsageError(`--log-level: expected trace, debug, info, warn, error or silent, got "${level}"`);
}
