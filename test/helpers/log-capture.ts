/** A logger that keeps its JSON lines, for tests that check what was logged (and how often). */
import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogLevel } from '../../src/core/logger.js';

export interface LogEntry {
  level: number;
  msg?: string;
  module?: string;
  [key: string]: unknown;
}

export function captureLogger(level: LogLevel = 'debug'): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) entries.push(JSON.parse(line) as LogEntry);
      done();
    },
  });
  return { log: createLogger({ level, destination }), entries };
}

/** The stanzas an agent logged as sent (they are logged at `trace`), as XML strings. */
export function sentStanzas(entries: LogEntry[]): string[] {
  return entries.filter((e) => e.dir === 'out' && typeof e.msg === 'string').map((e) => e.msg as string);
}
