/** Shared helpers for `npm run bench`: statistics, child processes, accounts, the result table. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/core/logger.js';
import type { ServerKind, XmppServer } from '../src/devtools/xmpp-server.js';
import { SYSTEM_PYTHON } from '../src/devtools/system-deps.js';
import { createTransport, type Transport } from '../src/xmpp/transport.js';

export interface Row {
  scenario: string;
  /** The server the row was measured on (set by run.ts); its baseline was measured on the same one. */
  server?: ServerKind;
  metric: string;
  ours: number;
  baseline: string;
  baselineValue: number | undefined;
  unit: string;
  /** "higher" or "lower" is better; the ratio is ours/baseline either way. */
  better: 'higher' | 'lower';
  /**
   * The ratio as the median of per-round ratios, where a scenario measures ours and its baseline back to back in
   * interleaved rounds (readout): shown instead of ours/baseline of the two medians.
   */
  pairedRatio?: number;
  target?: string;
  note?: string;
}

export interface BenchOptions {
  smoke: boolean;
  repeats: number;
  agents: number;
  /** Readings the soak runs for, and its device interval (a duration, as in the agent's config). */
  soakReadings: number;
  soakInterval: string;
  /** Where the soak writes its samples as CSV (readings, seconds, RSS of the agent and of the idle one). */
  soakSamples?: string;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
export const SLIXMPP_PEER = fileURLToPath(new URL('../../bench/slixmpp_peer.py', import.meta.url));

/** Starts a child that prints JSON lines; resolves with it once a line matches `ready`. */
export function startJsonChild(
  command: string,
  args: string[],
  ready: (event: Record<string, unknown>) => boolean,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 20_000,
  /** Where the JSON lines come from: pino logs go to stderr. */
  from: 'stdout' | 'stderr' = 'stdout',
): Promise<{ child: ChildProcess; events: Record<string, unknown>[]; readyAt: number }> {
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  if (from === 'stdout') child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args[0]} did not get ready: ${stderr.slice(-500)}`));
    }, timeoutMs);
    let buffer = '';
    (from === 'stdout' ? child.stdout : child.stderr)?.setEncoding('utf8').on('data', (d: string) => {
      if (from === 'stderr') stderr += d;
      buffer += d;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        events.push(event);
        if (ready(event)) {
          clearTimeout(timer);
          resolve({ child, events, readyAt: performance.now() });
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}: ${stderr.slice(-500)}`));
    });
  });
}

export function startSlixmppPeer(
  args: Record<string, unknown>,
  ready: (e: Record<string, unknown>) => boolean,
) {
  return startJsonChild(SYSTEM_PYTHON, [SLIXMPP_PEER, JSON.stringify({ host: '127.0.0.1', ...args })], ready);
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.stdin?.end();
    child.kill(signal);
  });
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** CPU time (user + system) a process has used so far, in ms (from /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Machine-wide CPU time from /proc/stat, in ms summed over all cores: busy (user, nice, system, irq, softirq,
 * steal) and total. Loopback TCP work done in softirq context shows here and in no process's own time.
 */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy: busy * 10, total: (busy + (idle ?? 0) + (iowait ?? 0)) * 10 };
}

/** The pid of a throwaway server (Prosody's pidfile; ejabberd's Erlang VM, EJABBERD_PID_PATH). */
export function serverPid(server: XmppServer): number {
  return Number(readFileSync(`${server.dir}/${server.kind}.pid`, 'utf8').trim());
}

/** Runs `fn` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

export function ratio(row: Row): string {
  if (row.pairedRatio !== undefined && Number.isFinite(row.pairedRatio))
    return `${row.pairedRatio.toFixed(2)}×`;
  if (row.baselineValue === undefined || !Number.isFinite(row.baselineValue) || row.baselineValue === 0)
    return '–';
  return `${(row.ours / row.baselineValue).toFixed(2)}×`;
}

/**
 * Spawns the compiled agent (`xiot agent`) with a config file; resolves when it logs "online". Node options for the
 * agent only (`BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`: NODE_OPTIONS refuses --cpu-prof).
 */
export function startAgentProcess(configPath: string, password: string) {
  return startJsonChild(
    process.execPath,
    [
      ...(process.env.BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      CLI,
      'agent',
      '--config',
      configPath,
      '--log-level',
      'info',
    ],
    (e) => e.msg === 'online',
    { ...process.env, BENCH_AGENT_PASSWORD: password },
    30_000,
    'stderr',
  );
}

export function agentYaml(o: {
  service: string;
  username: string;
  owners: string[];
  store: string;
  devices: string;
  publish?: boolean;
  /** A `limits:` mapping, e.g. `{ requestRate: 0 }` (README "Limits"). */
  limits?: string;
  /** A `hardware:` mapping, e.g. `{ procRoot: DIR }`. */
  hardware?: string;
}): string {
  return `xmpp:
  service: ${o.service}
  domain: localhost
  username: ${o.username}
  password: \${BENCH_AGENT_PASSWORD}
  resource: agent
owners: [${o.owners.join(', ')}]
store: ${o.store}
publish: { enabled: ${o.publish ?? true} }
log: { level: warn }
${o.limits ? `limits: ${o.limits}\n` : ''}${o.hardware ? `hardware: ${o.hardware}\n` : ''}devices:
${o.devices}
`;
}

/** A client connection for account `username` (password `${username}-pw`, as the scenarios register them). */
export function benchTransport(server: XmppServer, username: string): Transport {
  return createTransport(
    { service: server.service, domain: 'localhost', username, password: `${username}-pw`, resource: 'bench' },
    silentLogger(),
  );
}
