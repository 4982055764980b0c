/**
 * Human-readable logs for a terminal: pino's JSON lines turned into
 * `15:04:05.123 WARN  host: device unavailable code=IOT_ERR_DEVICE err="..."`.
 * A few lines of our own instead of pino-pretty: no extra dependency or memory in the agent, and the format
 * stays in one place. Under systemd (stderr is not a terminal) or with `--log-format json`, pino writes JSON.
 */
import { Writable } from 'node:stream';

export type LogFormat = 'json' | 'pretty';

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** One JSON log line as text (the line itself when it is not JSON). */
export function formatLogLine(line: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, msg, device, module, ...rest } = entry;
  const t = new Date(typeof time === 'number' ? time : Date.now());
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
  const [name, ansi] = LEVELS[level as number] ?? [String(level).padEnd(5), ''];
  const tag = color && ansi ? `${ansi}${name}\x1b[0m` : name;
  const who = device ?? module;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');
  return `${clock} ${tag} ${who === undefined ? '' : `${String(who)}: `}${String(msg ?? '')}${fields ? ` ${fields}` : ''}`;
}

/** A stream pino can write to that prints formatted lines to `out`. */
export function prettyStream(out: NodeJS.WritableStream, color: boolean): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      pending += chunk.toString();
      let nl: number;
      let text = '';
      while ((nl = pending.indexOf('\n')) >= 0) {
        text += `${formatLogLine(pending.slice(0, nl), color)}\n`;
        pending = pending.slice(nl + 1);
      }
      if (text) out.write(text);
      done();
    },
  });
}

/** `pretty` on a terminal, `json` otherwise, unless asked. */
export function chooseLogFormat(requested: string | undefined, stream: { isTTY?: boolean }): LogFormat {
  if (requested === 'json' || requested === 'pretty') return requested;
  return stream.isTTY ? 'pretty' : 'json';
}
