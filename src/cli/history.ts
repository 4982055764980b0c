/**
 * `xiot history`: stored readings as a table, CSV or JSON; no XMPP account needed.
 *   xiot history DEVICE --config agent.yaml   the agent's local store (what that one agent kept)
 *   xiot history THING --hub hub.yaml         the hub's fleet history (every thing it ingests, src/hub/ingest.ts)
 * The hub variant reads the hub's history store directly (SQLite file or PostgreSQL, as the hub config says):
 * run it where the hub runs, while the hub runs. Over the network, the hub's HTTP API serves the same data.
 */
import { parseDuration } from '../core/duration.js';
import type { HistoryStore, StoredReading } from '../hub/history.js';

import type { Field } from '../model/fields.js';
import { UsageError } from '../operator/usage.js';
import { type CliIo, parseCommand } from './args.js';
import { openStoreView } from './store-view.js';

export const HISTORY_HELP = `Usage: xiot history DEVICE --config FILE [--since 1h] [--limit N] [--csv | --json]
       xiot history THING --hub FILE [--field F] [--node N] [--since 1h | --from ISO --to ISO] [--limit N] [--csv | --json]

  DEVICE             a device of the agent whose config is FILE: its local store
  THING              a thing's bare JID (kitchen@example.org): the hub's fleet history (the hub config FILE)
  --since DURATION   readings of the last DURATION (default 1h; "all" for everything kept)
  --from, --to ISO   a period instead (hub only), e.g. --from 2026-11-24T06:00:00Z; --to defaults to now
  --field F, --node N   only that field / that device of the thing (hub only; repeatable)
  --limit N          at most the N most recent (default 1000; the agent's store) or the N oldest of the period
                     (hub, default 10000)
  --csv              CSV with a header (agent: time, then one column per field; hub: time,node,field,value,unit)
  --json             one JSON array (agent: {time, fields}; hub: one object per stored value)`;

interface Io extends CliIo {
  now?: () => number;
  /** Opens the hub's history store (tests give their own). */
  openHistory?: (hubConfig: string, env: Record<string, string | undefined>) => Promise<HistoryStore>;
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
      hub: { type: 'string' },
      since: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      field: { type: 'string', multiple: true },
      node: { type: 'string', multiple: true },
      limit: { type: 'string' },
      csv: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    HISTORY_HELP,
    io,
    { positionals: true },
  );
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const device = positionals[0];
  if (!device || positionals.length > 1)
    throw new UsageError('history needs one DEVICE or THING (xiot history --help)');
  if (values.csv && values.json) throw new UsageError('history: --csv or --json, not both');
  if (values.hub) {
    if (values.config) throw new UsageError('history: --config (an agent) or --hub (the hub), not both');
    return hubHistory(device, values, io);
  }
  if (!values.config) throw new UsageError('history needs --config FILE (an agent) or --hub FILE (the hub)');
  for (const hubOnly of ['from', 'to', 'field', 'node'] as const)
    if (values[hubOnly] !== undefined) throw new UsageError(`history: --${hubOnly} goes with --hub`);
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
    if (values.json) {
      const out = rows.map((r) => ({
        time: new Date(r.ts).toISOString(),
        fields: Object.fromEntries(
          r.fields.map((f) => [f.name, typeof f.value === 'bigint' ? String(f.value) : f.value]),
        ),
      }));
      io.stdout.write(`${JSON.stringify(out)}\n`);
      return 0;
    }
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

interface HubValues {
  hub?: string;
  since?: string;
  from?: string;
  to?: string;
  field?: string[];
  node?: string[];
  limit?: string;
  csv?: boolean;
  json?: boolean;
}

function isoTime(flag: string, value: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms))
    throw new UsageError(`--${flag}: expected a date-time like 2026-11-24T06:00:00Z, got "${value}"`);
  return ms;
}

/** The hub variant: one row per stored value, oldest first. */
async function hubHistory(thingArg: string, values: HubValues, io: Io): Promise<number> {
  const thing = thingArg.toLowerCase();
  if (!/^[^@/\s]+@[^@/\s]+$/.test(thing))
    throw new UsageError(
      `history --hub: expected a thing's bare JID like kitchen@example.org, got "${thingArg}"`,
    );
  if (values.since !== undefined && (values.from !== undefined || values.to !== undefined))
    throw new UsageError('history: --since or --from/--to, not both');
  const now = io.now?.() ?? Date.now();
  let from: number;
  let to = now;
  if (values.from !== undefined || values.to !== undefined) {
    if (values.from === undefined) throw new UsageError('history: --to needs --from');
    from = isoTime('from', values.from);
    if (values.to !== undefined) to = isoTime('to', values.to);
    if (to < from) throw new UsageError('history: --to is before --from');
  } else {
    const since = values.since ?? '1h';
    const ms = since === 'all' ? undefined : parseDuration(since);
    if (since !== 'all' && (ms === undefined || ms === null))
      throw new UsageError(`--since: expected a duration like "1h" or "all", got "${since}"`);
    from = ms === undefined ? 0 : now - (ms as number);
  }
  const limit = Number(values.limit ?? '10000');
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit: expected a positive integer, got "${values.limit}"`);
  const open = io.openHistory ?? openHubHistory;
  const history = await open(values.hub as string, io.env);
  try {
    const nodes = values.node ?? [undefined];
    const fields = values.field ?? [undefined];
    const parts = await Promise.all(
      nodes.flatMap((nodeId) =>
        fields.map((field) =>
          history.range({
            thing,
            from,
            to,
            limit,
            ...(nodeId !== undefined ? { nodeId } : {}),
            ...(field !== undefined ? { field } : {}),
          }),
        ),
      ),
    );
    const rows = parts
      .flat()
      .sort(
        (a, b) =>
          a.timestamp - b.timestamp || a.nodeId.localeCompare(b.nodeId) || a.name.localeCompare(b.name),
      )
      .slice(0, limit);
    const table = rows.map((r: StoredReading) => [
      new Date(r.timestamp).toISOString(),
      r.nodeId,
      r.name,
      r.value,
      r.unit ?? '',
    ]);
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify(
          rows.map((r) => ({
            time: new Date(r.timestamp).toISOString(),
            node: r.nodeId,
            field: r.name,
            value: r.value,
            type: r.type,
            ...(r.unit ? { unit: r.unit } : {}),
            ...(r.qos.length ? { qos: r.qos } : {}),
          })),
        )}\n`,
      );
      return 0;
    }
    if (values.csv) {
      const header = ['time', 'node', 'field', 'value', 'unit'];
      io.stdout.write([header, ...table].map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
      return 0;
    }
    if (rows.length === 0) {
      const known = (await history.things()).some((t) => t.thing === thing);
      io.stdout.write(
        known
          ? `no readings of ${thing} between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}\n`
          : `the hub has no readings of ${thing}: is it claimed in the registry or listed in the hub config's things?\n`,
      );
      return 0;
    }
    const header = ['time', 'node', 'field', 'value', 'unit'];
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd();
    io.stdout.write([line(header), ...table.map(line)].join('\n') + '\n');
    if (rows.length === limit)
      io.stderr.write(`xiot: the first ${limit} readings of the period; --limit for more\n`);
    return 0;
  } finally {
    await history.close();
  }
}

/** The hub's history store as its config names it. */
async function openHubHistory(
  hubConfig: string,
  env: Record<string, string | undefined>,
): Promise<HistoryStore> {
  const { loadHubConfig } = await import('../config/hub-config.js');
  const config = loadHubConfig(hubConfig, env);
  const { openHistoryStore } = await import('../hub/history-store.js');
  return openHistoryStore(config.history.store, { retention: config.history.retention });
}
