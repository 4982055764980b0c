/** Option parsing shared by the subcommands: node:util's parseArgs, with usage errors and `--help`. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../core/errors.js';
import { UsageError } from '../operator/usage.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

/**
 * Parses `argv` with `options`; undefined when `-h`/`--help` is among them (the command's help is then written),
 * else the values. Unknown options and positionals are usage errors naming the command.
 */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: O,
  help: string,
  io: CliIo,
) {
  const config = { args: argv, options, strict: true as const, allowPositionals: false as const };
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${help}\n`);
    return undefined;
  }
  try {
    return parseArgs(config).values;
  } catch (err) {
    throw new UsageError(`${command}: ${errorMessage(err)} (xiot ${command} --help)`);
  }
}

export function checkLogLevel(level: string | undefined): void {
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level: expected trace, debug, info, warn, error or silent, got "${level}"`);
}
