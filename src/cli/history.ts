/** `xiot history DEVICE`: readings kept in the agent's local store, as a table or CSV; no XMPP account needed. */
import { parseDuration } from '../core/duration.js';

import type { Field } from '../model/fields.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';
import { openStoreView } from './store-view.js';

export const HISTORY_HELP = `Usage: xiot history DEVICE --config FILE [--since 1h] [--limit N] [--csv]

  --since DURATION   readings of the last DURATION (default 1h; "all" for everything kept)
  --limit N          at most the N most recent (default 1000)
  --csv              CSV with a header: time (ISO 8601), then one column per field`;

interface Io extends CliIo {
  now?: () => number;
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function cell(f: Field | undefined): string {
  if (!f) return '';
  return typeof f.value === 'number' && f.decimals !== undefined
    ? f.value.toFixed(f.decimals)
    : String(f.value);
}

export async function runHistory(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommand(
    'history',
    argv,
    {
      config: { type: 'string', short: 'c' },
      since: { type: 'string' },
      limit: { type: 'string' },
      csv: { type: 'boolean' },
    },
    HISTORY_HELP,
    io,
    { positionals: true },
  );
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const device = positionals[0];
  if (!device || positionals.length > 1)
    throw new UsageError('history needs one DEVICE (xiot history --help)');
  if (!values.config) throw new UsageError('history needs --config FILE');
  const since = values.since ?? '1h';
  const sinceMs = since === 'all' ? undefined : parseDuration(since);
  if (since !== 'all' && (sinceMs === undefined || sinceMs === null))
    throw new UsageError(`--since: expected a duration like "1h" or "all", got "${since}"`);
  const limit = Number(values.limit ?? '1000');
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit: expected a positive integer, got "${values.limit}"`);
  const { loadAgentConfig } = await import('../agent/load-config.js');
  const config = loadAgentConfig(values.config, io.env, { allowMissingEnv: true });
  const known = config.devices.map((d) => d.id);
  const view = openStoreView(config.store);
  try {
    if (!known.includes(device) && !view.devices().includes(device))
      throw new UsageError(`history: no device "${device}" (devices: ${known.join(', ')})`);
    const now = io.now?.() ?? Date.now();
    const rows = view.history(device, sinceMs === undefined ? undefined : now - (sinceMs as number), limit);
    const names = [...new Set(rows.flatMap((r) => r.fields.map((f) => f.name)))];
    const units = new Map(
      rows.flatMap((r) => r.fields.filter((f) => f.unit).map((f) => [f.name, f.unit as string])),
    );
    const table = rows.map((r) => [
      new Date(r.ts).toISOString(),
      ...names.map((n) => cell(r.fields.find((f) => f.name === n))),
    ]);
    if (values.csv) {
      const header = ['time', ...names.map((n) => (units.get(n) ? `${n} (${units.get(n)})` : n))];
      io.stdout.write([header, ...table].map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write(`no readings of ${device} ${since === 'all' ? 'kept' : `in the last ${since}`}\n`);
      return 0;
    }
    const header = ['time', ...names.map((n) => (units.get(n) ? `${n} [${units.get(n)}]` : n))];
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd();
    io.stdout.write([line(header), ...table.map(line)].join('\n') + '\n');
    return 0;
  } finally {
    view.close();
  }
}
