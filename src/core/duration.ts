/** Durations as written in config files: `500ms`, `30s`, `5m`, `2h`, `7d`, or combined (`1h30m`). */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(PART)) ms += Number(n) * (UNIT_MS[unit as string] as number);
  return Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** XML Schema duration (`PT12.5S`) of a number of seconds, as XEP-0323 `duration` fields carry. */
export function xsDuration(seconds: number): string {
  const neg = seconds < 0 ? '-' : '';
  let s = Math.abs(seconds);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s = Math.round((s - m * 60) * 1000) / 1000;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s || (!d && !h && !m) ? `${s}S` : ''}`;
  return `${neg}P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/** Exponential backoff with full jitter, capped: attempt 0 → about `base`. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** setTimeout's ceiling: 2^31 − 1 ms (about 24.8 days). Node runs a longer timer after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer of setLongTimeout. */
export interface LongTimer {
  clear(): void;
}

/**
 * setTimeout for any delay: past setTimeout's ceiling it is a chain of shorter timers, so a 4-week interval
 * waits 4 weeks (not 1 ms: an agent with `interval: 4w` read 1,972 times in 4 s, issue 12).
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer =
      left > MAX_TIMER_MS
        ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
        : setTimeout(fn, Math.max(0, left));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
