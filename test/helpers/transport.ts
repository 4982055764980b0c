/** What the transport tests (unit against scripted servers, integration against real ones) log and look at. */
import type { Logger } from '../../src/core/logger.js';

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line (all levels but trace) for assertions. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (fields: object, msg = '') =>
      lines.push({ level, msg, fields: fields as Record<string, unknown> });
  const logger = {
    lines,
    trace: () => undefined,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

/** The warnings whose `reason` field matches. */
export const warnings = (log: { lines: LogLine[] }, reason: RegExp) =>
  log.lines.filter((l) => l.level === 'warn' && reason.test(String(l.fields.reason)));
