/**
 * `xiot status`: what the agent is doing, without an XMPP account. Live state (connection, availability, last
 * errors) comes from the running agent's control socket; last readings and the outbox from its store, which
 * is all there is when the agent is stopped.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Field } from '../model/fields.js';
import { UsageError } from '../operator/usage.js';
import { controlSocketPath, queryControlSocket, startControlSocket } from '../agent/control-socket.js';
import { type CliIo, parseCommand } from './args.js';
import { openStoreView } from './store-view.js';

export const STATUS_HELP = `Usage: xiot status --config FILE [--json]

From the running agent (its control socket STORE.sock) and its store: devices, availability, last readings,
outbox depth, last errors. With the agent stopped, what the store holds.`;

interface Io extends CliIo {
  now?: () => number;
}

interface LiveDevice {
  available?: boolean;
  reads: number;
  failures: number;
  lastError?: { message: string; at: number };
}

interface LiveStatus {
  pid: number;
  version: string;
  jid?: string;
  online: boolean;
  uptimeMs: number;
  outbox: number;
  published: number;
  lastPublishError?: string;
  devices: Record<string, LiveDevice>;
}

/** Started by `xiot agent`; a failure is logged, never fatal (the agent matters more than its status). */
export async function startLocalStatus(
  storePath: string,
  status: () => unknown,
  log: Logger,
): Promise<{ close(): Promise<void> } | undefined> {
  try {
    return await startControlSocket(controlSocketPath(storePath), status);
  } catch (err) {
    log.warn({ err: errorMessage(err) }, 'no local status socket (xiot status will read the store only)');
    return undefined;
  }
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function showField(f: Pick<Field, 'name' | 'value' | 'unit' | 'decimals'>): string {
  const value =
    typeof f.value === 'number' && f.decimals !== undefined ? f.value.toFixed(f.decimals) : String(f.value);
  return `${f.name}=${value}${f.unit ? ` ${f.unit}` : ''}`;
}

export async function runStatus(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommand(
    'status',
    argv,
    { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
    STATUS_HELP,
    io,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (!values.config) throw new UsageError('status needs --config FILE');
  const { loadAgentConfig } = await import('../agent/load-config.js');
  // Only the store's path and the device list are needed: no password.
  const config = loadAgentConfig(values.config, io.env, { allowMissingEnv: true });
  const now = io.now?.() ?? Date.now();
  const live = (await queryControlSocket(controlSocketPath(config.store))) as LiveStatus | undefined;
  let last = new Map<string, { ts: number; fields: Field[] }>();
  let outbox: number | undefined;
  let storeProblem: string | undefined;
  try {
    const view = openStoreView(config.store);
    try {
      last = view.lastReadings();
      outbox = view.outboxDepth();
    } finally {
      view.close();
    }
  } catch (err) {
    storeProblem = errorMessage(err);
  }
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify({ running: live !== undefined, live, store: config.store, outbox: live?.outbox ?? outbox, lastReadings: Object.fromEntries(last), storeProblem })}\n`,
    );
    return 0;
  }
  const lines: string[] = [];
  if (live) {
    lines.push(
      `agent running (pid ${live.pid}), xmpp-iot ${live.version}, up ${ago(live.uptimeMs).replace(' ago', '')}, ${live.online ? `online as ${live.jid}` : 'OFFLINE (reconnecting)'}`,
      `outbox: ${live.outbox} reading(s) waiting, ${live.published} published since start${live.lastPublishError ? ` (last error: ${live.lastPublishError})` : ''}`,
    );
  } else {
    lines.push(`agent not running (nothing answers on ${controlSocketPath(config.store)}); from its store:`);
    if (outbox !== undefined) lines.push(`outbox: ${outbox} reading(s) waiting to be published`);
  }
  if (storeProblem) lines.push(`store: ${storeProblem}`);
  for (const d of config.devices) {
    const state = live?.devices[d.id];
    const reading = last.get(d.id);
    const head = state
      ? `${state.available === undefined ? 'starting' : state.available ? 'available' : 'UNAVAILABLE'}, ${state.reads} reads, ${state.failures} failures`
      : live
        ? 'not running'
        : 'stopped';
    const error = state?.lastError
      ? `; last error ${ago(now - state.lastError.at)}: ${state.lastError.message}`
      : '';
    lines.push(`${d.id} (${d.type}): ${head}${error}`);
    lines.push(
      reading
        ? `  last reading ${new Date(reading.ts).toISOString()} (${ago(now - reading.ts)}): ${reading.fields.map(showField).join(', ')}`
        : '  no reading stored yet',
    );
  }
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
