/**
 * Drives slixmpp_client.py (slixmpp 1.8.3, Debian's /usr/bin/python3) from tests: one action per
 * process, one JSON line back. Guard suites with `requireSlixmpp()` from ./requirements.ts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../../src/devtools/system-deps.js';

export const SLIXMPP_SCRIPT = fileURLToPath(new URL('./slixmpp_client.py', import.meta.url));

export interface SlixmppArgs {
  /** Bare JID of the slixmpp account (a resource is bound by the server). */
  jid: string;
  password: string;
  host?: string;
  port: number;
  /**
   * - `ping`: log in; if `target` is given, XEP-0199 ping it (result has `rttMs`).
   * - `read-momentary`: XEP-0323 `req momentary='true'` to the full JID `target`.
   * - `subscribe`: presence subscription to the bare JID `target`; incoming requests are approved.
   */
  action: 'ping' | 'read-momentary' | 'subscribe' | 'control-set' | 'control-message' | 'adhoc' | 'chat';
  /** adhoc: the command's name as listed (e.g. "Read device"), and one map of field values per form step. */
  command?: string;
  steps?: Record<string, string>[];
  /** chat: lines to send to `target` (a bare JID); waits for as many replies. */
  lines?: string[];
  /** control-set (IQ) / control-message: parameters as xep_0325 takes them, `[name, typename, value]`. */
  params?: [string, string, string][];
  target?: string;
  /** Deadline inside the script (default 10 000 ms); the process is killed 5 s after it. */
  timeoutMs?: number;
  /** read-momentary: restrict to these nodes / field names; flags default to `{ momentary: 'true' }`. */
  nodeIds?: string[];
  fields?: string[];
  flags?: Record<string, string>;
  /** subscribe: also wait for the target's subscription back (state 'both'). */
  mutual?: boolean;
  /** Log slixmpp at DEBUG level to stderr (included in errors). */
  debug?: boolean;
}

/** One field as slixmpp's xep_0323 client reports it (values are strings, as on the wire). */
export interface SlixmppField {
  nodeId: string;
  timestamp: string;
  name: string;
  typename: string;
  value: string;
  unit?: string;
  dataType?: string;
  flags?: Record<string, string>;
}

/** One call of slixmpp's request_data callback. */
export interface SlixmppReadoutEvent {
  result:
    'accepted' | 'queued' | 'started' | 'fields' | 'done' | 'rejected' | 'failure' | 'cancelled' | 'error';
  from: string;
  nodeId?: string;
  timestamp?: string;
  error?: string;
  fields?: Array<Omit<SlixmppField, 'nodeId' | 'timestamp'>>;
}

export interface SlixmppResult {
  ok: boolean;
  action: SlixmppArgs['action'];
  /** Full JID slixmpp was bound to. */
  jid?: string;
  error?: string;
  /** ping */
  rttMs?: number;
  /** read-momentary */
  seqnr?: string;
  results?: SlixmppReadoutEvent['result'][];
  events?: SlixmppReadoutEvent[];
  fields?: SlixmppField[];
  iqErrors?: Array<{ from: string; type: string; condition: string; text: string }>;
  /** adhoc */
  commands?: string[];
  steps?: Array<{
    status: string;
    notes: [string, string][];
    fields: Record<string, { type: string; value: unknown; options: string[] }>;
    actions: string[];
  }>;
  /** chat */
  replies?: string[];
  /** subscribe: presence types received from the target, roster subscription states seen, final state */
  presences?: string[];
  subscriptions?: string[];
  subscription?: string;
}

export class SlixmppError extends Error {
  constructor(
    message: string,
    readonly result: SlixmppResult | undefined,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'SlixmppError';
  }
}

/** Runs one action; resolves with the parsed JSON when the script reports ok, rejects otherwise. */
export function runSlixmpp(args: SlixmppArgs): Promise<SlixmppResult> {
  const timeoutMs = args.timeoutMs ?? 10_000;
  const payload = JSON.stringify({ host: '127.0.0.1', ...args, timeoutMs });
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, [SLIXMPP_SCRIPT, payload], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    let killedByTimer = false;
    const timer = setTimeout(() => {
      killedByTimer = true;
      child.kill('SIGKILL');
    }, timeoutMs + 5_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new SlixmppError(`cannot run ${SYSTEM_PYTHON}: ${err.message}`, undefined, stderr));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const tail = stderr.trimEnd().split('\n').slice(-30).join('\n');
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let result: SlixmppResult | undefined;
      try {
        result = JSON.parse(line) as SlixmppResult;
      } catch {
        result = undefined;
      }
      if (code === 0 && result?.ok) {
        resolve(result);
        return;
      }
      const why = killedByTimer
        ? `killed after ${timeoutMs + 5_000} ms`
        : `exited with ${signal ?? `code ${code}`}${result?.error ? `: ${result.error}` : ''}`;
      reject(
        new SlixmppError(
          `slixmpp ${args.action} as ${args.jid} ${why}\nstdout: ${stdout.trim()}\nstderr:\n${tail}`,
          result,
          stderr,
        ),
      );
    });
  });
}

export const SLIXMPP_DEVICE_SCRIPT = fileURLToPath(new URL('./slixmpp_device.py', import.meta.url));

/** A running slixmpp XEP-0323/0325 device (test/helpers/slixmpp_device.py). */
export interface SlixmppDevice {
  jid: string;
  events: Array<{ event: string; name?: string; value?: string }>;
  stop(): Promise<void>;
}

export function startSlixmppDevice(args: {
  jid: string;
  password: string;
  port: number;
  timeoutMs?: number;
}): Promise<SlixmppDevice> {
  const child = spawn(
    SYSTEM_PYTHON,
    [SLIXMPP_DEVICE_SCRIPT, JSON.stringify({ host: '127.0.0.1', ...args })],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const events: SlixmppDevice['events'] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`slixmpp device did not come online: ${stderr}`));
    }, 10_000);
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const event = JSON.parse(line) as SlixmppDevice['events'][number] & { jid?: string; error?: string };
        events.push(event);
        if (event.event === 'error') reject(new Error(event.error));
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolve({
            jid: event.jid as string,
            events,
            stop: async () => {
              child.stdin.end();
              const t = setTimeout(() => child.kill('SIGKILL'), 3000);
              await exited;
              clearTimeout(t);
            },
          });
        }
      }
    });
  });
}
