import { pino } from 'pino';
import { type LogFormat, prettyStream } from './log-format.js';

/**
 * The logger interface every module receives (a pino logger satisfies it). Structured fields first,
 * message second. Modules never create loggers of their own: they get one from the composition root.
 */
export interface Logger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Key paths never written to logs, whatever a caller passes in. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'xmpp.password',
  'config.xmpp.password',
  'credentials',
  '*.credentials',
  'token',
  '*.token',
];

export function createLogger(
  options: { level?: LogLevel; destination?: NodeJS.WritableStream; format?: LogFormat } = {},
): Logger {
  const out = options.destination ?? process.stderr;
  const destination =
    options.format === 'pretty' ? prettyStream(out, (out as { isTTY?: boolean }).isTTY === true) : out;
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- pino's destination type is a stream of its own
    destination as any,
  );
}

/** A logger that drops everything (unit tests, library use without logging). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
