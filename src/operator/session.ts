/** The operator commands' shared parts: options, the XMPP session of one command, fan-out over JIDs, exit codes. */
import { parseArgs } from 'node:util';
import { xml } from '@xmpp/client';
import { parseDuration } from '../core/duration.js';
import { errorMessage, IotError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createControlClient } from '../iot/control-client.js';
import { NS } from '../xmpp/ns.js';
import { createSensorClient } from './sensor-client.js';
import { type ParsedField, parseDateTime } from '../iot/sensordata.js';
import { createTransport, type Transport } from '../xmpp/transport.js';
import { createOperatorContacts, type Friendship, type OperatorContacts } from './contacts.js';
import { loadOperatorCredentials } from './credentials.js';
import { EXIT, OPERATOR_COMMAND_HELP, OPERATOR_HELP, UsageError } from './usage.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export const COMMON = {
  jid: { type: 'string' },
  service: { type: 'string' },
  operator: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parse<
  O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>,
>(argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...COMMON, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

export function duration(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`--${flag}: expected a duration like "10s", got "${value}"`);
  return ms;
}

export function time(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const ms = parseDateTime(value);
  if (ms === undefined)
    throw new UsageError(`--${flag}: expected a date-time like 2026-11-24T10:00:00Z, got "${value}"`);
  return new Date(ms);
}

export interface Session {
  transport: Transport;
  sensors: ReturnType<typeof createSensorClient>;
  control: ReturnType<typeof createControlClient>;
  contacts: OperatorContacts;
  close(): Promise<void>;
}

/** How long to wait for a contact's presence: after login it comes at once; after a new subscription, later. */
export const PRESENCE_WAIT_MS = { subscribed: 3000, asked: 6000 };

/** Logs in; `named` are the JIDs of the command line (their subscription requests are approved). */
export async function connect(
  values: { jid?: string; service?: string; operator?: string },
  io: Io,
  timeoutMs: number,
  named: string[] = [],
): Promise<Session> {
  const { agents, ...creds } = loadOperatorCredentials(
    {
      ...(values.jid ? { jid: values.jid } : {}),
      ...(values.service ? { service: values.service } : {}),
      ...(values.operator ? { operator: values.operator } : {}),
    },
    io.env,
  );
  const transport = createTransport(
    { ...creds, resource: creds.resource ?? `xiot-${process.pid}`, timeoutMs },
    silentLogger(),
  );
  const contacts = createOperatorContacts({ transport, named, agents });
  const sensors = createSensorClient({ transport, log: silentLogger(), approve: contacts.approves });
  // The roster first: the server re-sends pending subscription requests on our initial presence, and the
  // approval rule needs the roster.
  let ready: Promise<unknown> = Promise.resolve();
  transport.on('online', () => {
    ready = contacts
      .load()
      .catch(() => undefined) // no roster: only the named and configured agents are approved
      .then(() => sensors.announce())
      // The server answers our initial presence (pending requests, contacts' presences) before a later IQ.
      .then(() => transport.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: NS.ping }))))
      .catch(() => undefined);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      transport.start().then(() => ready),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new IotError('IOT_ERR_XMPP_TIMEOUT', `cannot reach ${creds.service}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    await transport.stop().catch(() => undefined);
    throw new ConnectError(errorMessage(err));
  } finally {
    clearTimeout(timer);
  }
  return {
    transport,
    sensors,
    control: createControlClient(transport),
    contacts,
    close: () => transport.stop(),
  };
}

export class ConnectError extends Error {}

/**
 * A full JID for `jid`: as given, or the contact's online resource. Without a subscription to the contact we
 * ask for one first, then wait briefly for its presence.
 */
export async function resolve(session: Session, jid: string): Promise<string> {
  if (jid.includes('/')) return jid;
  const { contacts } = session;
  const known = contacts.fullJid(jid);
  if (known) return known;
  const state = await contacts.befriend(jid);
  const full = await contacts.waitOnline(
    jid,
    PRESENCE_WAIT_MS[state === 'subscribed' ? 'subscribed' : 'asked'],
  );
  if (full) return full;
  throw new IotError('IOT_ERR_XMPP', notOnline(jid, contacts.friendship(jid)));
}

export function notOnline(jid: string, friendship: Friendship): string {
  switch (friendship) {
    case 'refused':
      return `${jid} refused your presence subscription: is your JID among its owners?`;
    case 'subscribed':
      return `${jid} is offline (no presence from it): is the agent running? Or give the full JID (user@domain/resource)`;
    default:
      return `${jid} has not approved your presence subscription yet (asked now): is the agent running, and are you among its owners?`;
  }
}

export function fieldRows(jid: string, fields: ParsedField[]) {
  return fields.map((f) => ({
    jid,
    node: f.nodeId,
    field: f.name,
    value: f.value,
    unit: f.unit ?? '',
    time: Number.isNaN(f.timestamp) ? '' : new Date(f.timestamp).toISOString(),
    types: f.flags.join(','),
  }));
}

/** Runs `run` for each JID, at most `concurrency` at once (all at once by default), with progress on a terminal. */
export async function fanOut<T>(
  io: Io,
  jids: string[],
  what: string,
  run: (jid: string) => Promise<T>,
  concurrency = Number.POSITIVE_INFINITY,
) {
  const results: ({ jid: string; ok: true; value: T } | { jid: string; ok: false; error: string })[] = [];
  let done = 0;
  const progress = () => {
    if (jids.length > 1 && io.stderr.isTTY) io.stderr.write(`\r${what} ${done}/${jids.length}…`);
  };
  progress();
  let next = 0;
  const worker = async () => {
    while (next < jids.length) {
      const jid = jids[next++] as string;
      try {
        results.push({ jid, ok: true, value: await run(jid) });
      } catch (err) {
        results.push({ jid, ok: false, error: errorMessage(err) });
      }
      done++;
      progress();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jids.length) }, worker));
  if (jids.length > 1 && io.stderr.isTTY) io.stderr.write('\r\x1b[K');
  results.sort((a, b) => jids.indexOf(a.jid) - jids.indexOf(b.jid));
  return results;
}

export function exitFor(results: { ok: boolean }[]): number {
  const failed = results.filter((r) => !r.ok).length;
  if (failed === 0) return EXIT.ok;
  return failed === results.length ? EXIT.failed : EXIT.partial;
}

export function reportErrors(
  io: Io,
  results: ({ jid: string; ok: true } | { jid: string; ok: false; error: string })[],
) {
  for (const r of results) if (!r.ok) io.stderr.write(`xiot: ${r.jid}: ${r.error}\n`);
}

export function help(io: Io, command: string): number {
  io.stdout.write(`${OPERATOR_COMMAND_HELP[command] ?? OPERATOR_HELP}\n`);
  return EXIT.ok;
}
