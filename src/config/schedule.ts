import cronParser from 'cron-parser';
import { parseDuration } from '../core/duration.js';

export type Schedule = { kind: 'every'; ms: number } | { kind: 'cron'; expression: string };

export const SCHEDULE_HINT = 'expected a duration like "30s" or a cron expression like "*/5 * * * *"';

/** A device interval: a duration, or a 5- or 6-field cron expression (node-schedule's dialect). */
export function parseSchedule(text: string): Schedule | undefined {
  const ms = parseDuration(text);
  if (ms !== undefined) return ms > 0 ? { kind: 'every', ms } : undefined;
  const fields = text.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) return undefined;
  try {
    cronParser.parseExpression(text);
    return { kind: 'cron', expression: text.trim() };
  } catch {
    return undefined;
  }
}
