/**
 * `xiot read | set | form | watch | devices`: operating devices from the command line, over the same client
 * modules the hub uses (sensor-client for XEP-0323 and PEP, control-client for XEP-0325). Human tables by
 * default, `--json` for scripts (same data). Exit codes: 0 done, 1 refused or failed, 2 bad usage,
 * 3 cannot connect or log in, 4 some of several devices failed.
 */
import { parseArgs } from 'node:util';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { parseDuration } from '../core/duration.js';
import { ConfigError, errorMessage, IotError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { FIELD_TYPE_FLAGS, type FieldTypeFlag } from '../model/fields.js';
import type { ControlType } from '../sdk/index.js';
import { bareOf } from '../xmpp/jid.js';
import { createControlClient, type ParameterValue } from './control-client.js';
import { parseDiscoInfo } from '../xmpp/disco.js';
import { NS } from '../xmpp/ns.js';
import { createSensorClient, type ReadoutParams, type Truncation } from './sensor-client.js';
import { type ParsedField, parseDateTime, parseFields } from '../iot/sensordata.js';
import { createTransport, type Transport } from '../xmpp/transport.js';
import { type ClaimCode, NS_DISCOVERY, parseClaimCode, tagElements } from '../iot/discovery.js';
import { createOperatorContacts, type Friendship, type OperatorContacts } from './contacts.js';
import { loadOperatorCredentials } from './credentials.js';
import { formatTable } from './table.js';
import { EXIT, OPERATOR_COMMAND_HELP, OPERATOR_HELP, UsageError } from './usage.js';

export { EXIT, OPERATOR_HELP, UsageError } from './usage.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

const COMMON = {
  jid: { type: 'string' },
  service: { type: 'string' },
  operator: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>>(
  argv: string[],
  options: O,
) {
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

function duration(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`--${flag}: expected a duration like "10s", got "${value}"`);
  return ms;
}

function time(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const ms = parseDateTime(value);
  if (ms === undefined)
    throw new UsageError(`--${flag}: expected a date-time like 2026-11-24T10:00:00Z, got "${value}"`);
  return new Date(ms);
}

interface Session {
  transport: Transport;
  sensors: ReturnType<typeof createSensorClient>;
  control: ReturnType<typeof createControlClient>;
  contacts: OperatorContacts;
  close(): Promise<void>;
}

/** How long to wait for a contact's presence: after login it comes at once; after a new subscription, later. */
const PRESENCE_WAIT_MS = { subscribed: 3000, asked: 6000 };

/** Logs in; `named` are the JIDs of the command line (their subscription requests are approved). */
async function connect(
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

class ConnectError extends Error {}

/**
 * A full JID for `jid`: as given, or the contact's online resource. Without a subscription to the contact we
 * ask for one first, then wait briefly for its presence.
 */
async function resolve(session: Session, jid: string): Promise<string> {
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

function notOnline(jid: string, friendship: Friendship): string {
  switch (friendship) {
    case 'refused':
      return `${jid} refused your presence subscription: is your JID among its owners?`;
    case 'subscribed':
      return `${jid} is offline (no presence from it): is the agent running? Or give the full JID (user@domain/resource)`;
    default:
      return `${jid} has not approved your presence subscription yet (asked now): is the agent running, and are you among its owners?`;
  }
}

function fieldRows(jid: string, fields: ParsedField[]) {
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

async function fanOut<T>(io: Io, jids: string[], what: string, run: (jid: string) => Promise<T>) {
  const results: ({ jid: string; ok: true; value: T } | { jid: string; ok: false; error: string })[] = [];
  let done = 0;
  const progress = () => {
    if (jids.length > 1 && io.stderr.isTTY) io.stderr.write(`\r${what} ${done}/${jids.length}…`);
  };
  progress();
  await Promise.all(
    jids.map(async (jid) => {
      try {
        results.push({ jid, ok: true, value: await run(jid) });
      } catch (err) {
        results.push({ jid, ok: false, error: errorMessage(err) });
      }
      done++;
      progress();
    }),
  );
  if (jids.length > 1 && io.stderr.isTTY) io.stderr.write('\r\x1b[K');
  results.sort((a, b) => jids.indexOf(a.jid) - jids.indexOf(b.jid));
  return results;
}

function exitFor(results: { ok: boolean }[]): number {
  const failed = results.filter((r) => !r.ok).length;
  if (failed === 0) return EXIT.ok;
  return failed === results.length ? EXIT.failed : EXIT.partial;
}

function reportErrors(
  io: Io,
  results: ({ jid: string; ok: true } | { jid: string; ok: false; error: string })[],
) {
  for (const r of results) if (!r.ok) io.stderr.write(`xiot: ${r.jid}: ${r.error}\n`);
}

async function cmdRead(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    node: { type: 'string', multiple: true },
    field: { type: 'string', multiple: true },
    types: { type: 'string' },
    historical: { type: 'boolean' },
    from: { type: 'string' },
    to: { type: 'string' },
  });
  if (values.help) return help(io, 'read');
  if (positionals.length === 0) throw new UsageError('read needs at least one JID');
  const types = (values.types?.split(',').map((t) => t.trim()) ?? []) as FieldTypeFlag[];
  for (const t of types)
    if (!FIELD_TYPE_FLAGS.includes(t)) throw new UsageError(`--types: unknown field type "${t}"`);
  if (values.historical && !types.includes('historicalOther')) types.push('historicalOther');
  if ((values.from || values.to) && !values.historical)
    throw new UsageError('--from and --to go with --historical');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const params: ReadoutParams = {
    types: types.length ? types : ['momentary'],
    ...(values.node ? { nodes: values.node } : {}),
    ...(values.field ? { fields: values.field } : {}),
    ...(time('from', values.from) ? { from: time('from', values.from) as Date } : {}),
    ...(time('to', values.to) ? { to: time('to', values.to) as Date } : {}),
    timeoutMs,
  };
  const session = await connect(values, io, timeoutMs, positionals);
  try {
    const results = await fanOut(io, positionals, 'reading', async (jid) => {
      const full = await resolve(session, jid);
      const r = await session.sensors.readout(full, params);
      if (r.fields.length === 0 && r.failures.length)
        throw new IotError('IOT_ERR_DEVICE', r.failures.map((f) => `${f.nodeId}: ${f.message}`).join('; '));
      return {
        jid: full,
        fields: r.fields,
        failures: r.failures,
        ...(r.truncated ? { truncated: r.truncated } : {}),
      };
    });
    const rows = results.flatMap((r) => (r.ok ? fieldRows(r.value.jid, r.value.fields) : []));
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify(results.map((r) => (r.ok ? { ok: true, ...r.value, fields: fieldRows(r.value.jid, r.value.fields) } : r)))}\n`,
      );
    } else {
      const multi = positionals.length > 1;
      io.stdout.write(
        formatTable(rows, [...(multi ? ['jid'] : []), 'node', 'field', 'value', 'unit', 'time', 'types']),
      );
      for (const r of results)
        if (r.ok)
          for (const f of r.value.failures) io.stderr.write(`xiot: ${r.jid} ${f.nodeId}: ${f.message}\n`);
    }
    reportErrors(io, results);
    // A cut history is a complete answer to a request that asked for too much, not a failure: exit 0 (scripts
    // keep what they got; `truncated` is in the JSON), with a notice on stderr so stdout stays parseable.
    for (const r of results)
      if (r.ok && r.value.truncated)
        io.stderr.write(`xiot: ${cutNotice(r.jid, r.value.truncated, values.to)}\n`);
    return exitFor(results);
  } finally {
    await session.close();
  }
}

function cutNotice(jid: string, cut: Truncation, to: string | undefined): string {
  const what = `${jid}: the agent cut this history${cut.limit !== undefined ? ` at ${cut.limit} readings` : ''}`;
  if (!cut.resume) return `${what}; ask for a shorter period (--from/--to)`;
  return `${what}; the rest: xiot read ${jid} --historical --from ${cut.resume}${to ? ` --to ${to}` : ''}`;
}

const DATATYPE_TO_TYPE: Record<string, ControlType> = {
  'xs:boolean': 'boolean',
  'xs:int': 'int',
  'xs:integer': 'long',
  'xs:long': 'long',
  'xs:double': 'double',
  'xs:decimal': 'double',
  'xs:string': 'string',
  'xs:date': 'date',
  'xs:time': 'time',
  'xs:dateTime': 'dateTime',
  'xs:duration': 'duration',
};

/** Without a form (slixmpp has none), guess the type from the value. */
function inferType(value: string): ControlType {
  if (/^(true|false|on|off)$/i.test(value)) return 'boolean';
  if (/^[+-]?\d+$/.test(value)) return 'int';
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(value)) return 'double';
  return 'string';
}

function controlValue(type: ControlType, raw: string): ParameterValue['value'] {
  if (type === 'boolean') return /^(true|1|on|yes)$/i.test(raw);
  return raw;
}

async function cmdSet(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    node: { type: 'string', multiple: true },
    message: { type: 'boolean' },
  });
  if (values.help) return help(io, 'set');
  const jids = positionals.filter((p) => !p.includes('='));
  const assignments = positionals.filter((p) => p.includes('='));
  if (jids.length === 0 || assignments.length === 0)
    throw new UsageError('set needs a JID and at least one name=value');
  const pairs = assignments.map((a) => {
    const i = a.indexOf('=');
    const name = a.slice(0, i);
    if (!name) throw new UsageError(`"${a}": expected name=value`);
    return { name, raw: a.slice(i + 1) };
  });
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const nodes = values.node ?? [];
  const session = await connect(values, io, timeoutMs, jids);
  try {
    const results = await fanOut(io, jids, 'setting', async (jid) => {
      const full = await resolve(session, jid);
      // The device's form says each parameter's type (XEP-0122 datatype); peers without getForm get a guess.
      const form = await session.control.getForm(full, nodes).catch(() => []);
      const params: ParameterValue[] = pairs.map(({ name, raw }) => {
        const datatype = form.find((f) => f.var === name)?.datatype;
        const type = (datatype && DATATYPE_TO_TYPE[datatype]) || inferType(raw);
        return { name, type, value: controlValue(type, raw) };
      });
      if (values.message) await session.control.setByMessage(full, params, { nodes });
      else await session.control.set(full, params, nodes);
      return {
        jid: full,
        applied: params.map((p) => ({ name: p.name, type: p.type, value: String(p.value) })),
      };
    });
    if (values.json) io.stdout.write(`${JSON.stringify(results)}\n`);
    else
      for (const r of results)
        if (r.ok)
          io.stdout.write(
            `${r.value.jid}: ${r.value.applied.map((p) => `${p.name}=${p.value}`).join(' ')}${values.message ? ' (sent)' : ''}\n`,
          );
    reportErrors(io, results);
    return exitFor(results);
  } finally {
    await session.close();
  }
}

async function cmdForm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { node: { type: 'string', multiple: true } });
  if (values.help) return help(io, 'form');
  if (positionals.length !== 1) throw new UsageError('form needs exactly one JID');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs, positionals);
  try {
    const full = await resolve(session, positionals[0] as string);
    const fields = (await session.control.getForm(full, values.node ?? [])).filter(
      (f) => f.type !== 'hidden',
    );
    const rows = fields.map((f) => ({
      parameter: f.var,
      datatype: f.datatype ?? '',
      range:
        f.min !== undefined || f.max !== undefined ? `${f.min ?? ''}..${f.max ?? ''}` : f.options.join('|'),
      value: f.value ?? '',
      label: f.label ?? '',
    }));
    io.stdout.write(
      values.json
        ? `${JSON.stringify(rows)}\n`
        : formatTable(rows, ['parameter', 'datatype', 'range', 'value', 'label']),
    );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

async function cmdWatch(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { for: { type: 'string' } });
  if (values.help) return help(io, 'watch');
  const forMs = values.for === undefined ? undefined : duration('for', values.for, 0);
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs, positionals);
  const latest = new Map<string, Record<string, string>>();
  const live = !values.json && io.stdout.isTTY === true;
  let drawn = 0;
  let closed = false;
  const write = (text: string) => {
    if (!closed) io.stdout.write(text);
  };
  const draw = () => {
    const rows = [...latest.values()];
    const text = formatTable(rows, [
      'from',
      'device',
      'time',
      ...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => !['from', 'device', 'time'].includes(k)))),
    ]);
    if (live && drawn) write(`\x1b[${drawn}A\x1b[J`);
    write(text);
    drawn = text.split('\n').length - 1;
  };
  session.sensors.onNotification((n) => {
    const from = bareOf(n.from);
    if (positionals.length && !positionals.some((p) => bareOf(p) === from) && !positionals.includes(n.from))
      return;
    const time = n.fields[0] ? new Date(n.fields[0].timestamp).toISOString() : '';
    if (values.json) {
      write(
        `${JSON.stringify({ from, node: n.node, device: n.itemId, time, fields: fieldRows(from, n.fields) })}\n`,
      );
      return;
    }
    const row: Record<string, string> = { from, device: n.itemId, time };
    for (const f of n.fields) row[f.name] = `${f.value}${f.unit ? ` ${f.unit}` : ''}`;
    latest.set(`${from} ${n.itemId}`, row);
    if (live) draw();
    else write(formatTable([row], Object.keys(row)));
  });
  // Watching a device means being its friend (PEP sends readings to presence subscribers whose caps say
  // +notify): ask for a subscription where we have none, and tell each one our caps directly, since our
  // broadcast presence reaches only the agents we approved.
  const { contacts } = session;
  const watched = positionals.length
    ? positionals.map(bareOf)
    : [
        ...new Set([
          ...contacts.wanted(),
          ...contacts.roster().flatMap((r) => (contacts.approves(r.jid) ? [r.jid] : [])),
        ]),
      ];
  for (const jid of watched) {
    await contacts.befriend(jid);
    await session.transport.send(xml('presence', { to: jid }, session.sensors.caps()));
  }
  return await new Promise<number>((resolveExit) => {
    const stop = () => {
      if (closed) return;
      closed = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.stdout.off('error', onOutputError);
      void session.close().then(() => resolveExit(EXIT.ok));
    };
    // `xiot watch | head`: the reader went away, which ends the watch, not an error.
    const onOutputError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') stop();
    };
    io.stdout.on('error', onOutputError);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (forMs !== undefined) setTimeout(stop, forMs);
    for (const jid of watched)
      void contacts.waitOnline(jid, PRESENCE_WAIT_MS.asked).then((full) => {
        if (!full && !closed) io.stderr.write(`xiot: ${notOnline(jid, contacts.friendship(jid))}\n`);
      });
  });
}

async function cmdDevices(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) return help(io, 'devices');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  // JIDs on the command line (and `agents:` of the operator file) are added: asked for their presence.
  const session = await connect(values, io, timeoutMs, positionals);
  try {
    const book = session.contacts;
    for (const jid of book.wanted()) await book.befriend(jid);
    const contacts = [...new Set([...book.roster().map((r) => r.jid), ...book.wanted()])];
    // Presences of subscribed contacts arrive right after login; approvals of new requests take longer.
    await Promise.all(
      contacts.map((jid) => {
        const state = book.friendship(jid);
        if (state === 'subscribed') return book.waitOnline(jid, PRESENCE_WAIT_MS.subscribed);
        if (state === 'asked' && book.wanted().includes(jid))
          return book.waitOnline(jid, PRESENCE_WAIT_MS.asked);
        return undefined;
      }),
    );
    for (const jid of book.pendingRequests())
      io.stderr.write(
        `xiot: ${jid} asks to see your presence: to accept, run "xiot devices ${jid}" or add it to agents: in your operator file\n`,
      );
    const results = await fanOut(io, contacts, 'probing', async (bare) => {
      const full = book.fullJid(bare);
      let features: string[] = [];
      if (full) {
        const info = await session.transport
          .request(xml('iq', { type: 'get', to: full }, xml('query', { xmlns: NS.discoInfo })), timeoutMs)
          .catch(() => undefined);
        features = info ? parseDiscoInfo(info.getChild('query') as Element).features : [];
      }
      const items = await session.transport
        .request(
          xml(
            'iq',
            { type: 'get', to: bare },
            xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node: NS.sensordata })),
          ),
          timeoutMs,
        )
        .catch(() => undefined);
      const fields = (items?.getChild('pubsub')?.getChild('items')?.getChildren('item') ?? []).flatMap(
        (it) => {
          const f = it.getChild('fields', NS.sensordata);
          return f ? parseFields(f) : [];
        },
      );
      const last = Math.max(...fields.map((f) => f.timestamp).filter((t) => !Number.isNaN(t)));
      return {
        jid: bare,
        online: full ?? '',
        subscription: book.friendship(bare),
        status: full ? book.statusOf(bare) : '',
        sensordata: features.includes(NS.sensordata),
        control: features.includes(NS.control),
        devices: [...new Set(fields.map((f) => f.nodeId))].join(','),
        lastReading: Number.isFinite(last) ? new Date(last).toISOString() : '',
      };
    });
    const rows = results.flatMap((r) => (r.ok ? [r.value] : []));
    if (values.json) io.stdout.write(`${JSON.stringify(rows)}\n`);
    else
      io.stdout.write(
        formatTable(
          rows.map((r) => ({
            ...r,
            online: r.online
              ? `yes (${r.online.split('/')[1]})`
              : r.subscription === 'subscribed'
                ? 'no'
                : `no (${r.subscription === 'none' ? 'not subscribed' : r.subscription})`,
            sensordata: r.sensordata ? 'yes' : '',
            control: r.control ? 'yes' : '',
          })),
          ['jid', 'online', 'status', 'sensordata', 'control', 'devices', 'lastReading'],
        ),
      );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** `xiot claim CODE`: XEP-0347 `mine` with the code's tags; the registry answers with the thing's JID. */
async function cmdClaim(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { registry: { type: 'string' }, private: { type: 'boolean' } });
  if (values.help) return help(io, 'claim');
  if (positionals.length !== 1) throw new UsageError('claim needs one CODE (xiot claim --help)');
  let code: ClaimCode;
  try {
    code = parseClaimCode(positionals[0] as string);
  } catch (err) {
    throw new UsageError(`claim: ${errorMessage(err)}`);
  }
  const registry = values.registry ?? code.registry;
  if (!registry) throw new UsageError('claim: the code names no registry: add --registry JID');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    const answer = await session.transport.request(
      xml(
        'iq',
        { type: 'set', to: registry },
        xml(
          'mine',
          { xmlns: NS_DISCOVERY, ...(values.private ? { public: 'false' } : {}) },
          ...tagElements(code.tags),
        ),
      ),
      timeoutMs,
    );
    const thing = answer.getChild('claimed', NS_DISCOVERY)?.attrs.jid as string | undefined;
    if (values.json) io.stdout.write(`${JSON.stringify({ claimed: thing ?? null, registry })}\n`);
    else io.stdout.write(`claimed ${thing ?? '(the registry did not say which thing)'}: you are its owner\n`);
    return EXIT.ok;
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    if (condition === 'item-not-found') {
      io.stderr.write(`xiot: ${registry} knows no unclaimed thing with this code\n`);
      return EXIT.failed;
    }
    throw err;
  } finally {
    await session.close();
  }
}

/** The registry for things/disown: --registry, else XIOT_REGISTRY. */
function registryOf(values: { registry?: string }, io: Io, command: string): string {
  const registry = values.registry ?? io.env.XIOT_REGISTRY;
  if (!registry) throw new UsageError(`${command} needs --registry JID (or XIOT_REGISTRY)`);
  return registry;
}

/** `xiot things`: XEP-0347 search; `--tag NAME=VALUE` (strEq) or `--tag '#NAME=NUMBER'` (numEq), AND-combined. */
async function cmdThings(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    registry: { type: 'string' },
    tag: { type: 'string', multiple: true },
    offset: { type: 'string' },
    max: { type: 'string' },
  });
  if (values.help) return help(io, 'things');
  if (positionals.length) throw new UsageError('things takes no positional arguments (xiot things --help)');
  const registry = registryOf(values, io, 'things');
  const conditions = (values.tag ?? []).map((t) => {
    const at = t.indexOf('=');
    if (at <= 0) throw new UsageError(`--tag: expected NAME=VALUE, got "${t}"`);
    const num = t.startsWith('#');
    const name = t.slice(num ? 1 : 0, at);
    const value = t.slice(at + 1);
    if (num && !Number.isFinite(Number(value)))
      throw new UsageError(`--tag ${t}: "${value}" is not a number`);
    return xml(num ? 'numEq' : 'strEq', { name, value });
  });
  const count = (flag: string, raw: string | undefined) => {
    if (raw === undefined) return {};
    if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag}: expected a non-negative integer, got "${raw}"`);
    return { [flag === 'max' ? 'maxCount' : flag]: raw };
  };
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    const answer = await session.transport.request(
      xml(
        'iq',
        { type: 'get', to: registry },
        xml(
          'search',
          { xmlns: NS_DISCOVERY, ...count('offset', values.offset), ...count('max', values.max) },
          ...conditions,
        ),
      ),
      timeoutMs,
    );
    const found = answer.getChild('found', NS_DISCOVERY);
    const things = (found?.getChildren('thing') ?? []).map((t) => ({
      jid: t.attrs.jid as string,
      owner: t.attrs.owner as string,
      tags: Object.fromEntries(
        t
          .getChildElements()
          .map((tag) => [
            tag.attrs.name as string,
            tag.name === 'num' ? Number(tag.attrs.value) : (tag.attrs.value as string),
          ]),
      ),
    }));
    const more = found?.attrs.more === 'true';
    if (values.json) io.stdout.write(`${JSON.stringify({ things, more })}\n`);
    else {
      io.stdout.write(
        formatTable(
          things.map((t) => ({
            ...t,
            tags: Object.entries(t.tags)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
          })),
          ['jid', 'owner', 'tags'],
        ),
      );
      if (more) io.stdout.write('(more: use --offset)\n');
    }
    return EXIT.ok;
  } finally {
    await session.close();
  }
}

/** `xiot disown JID`: XEP-0347 disown; the thing drops you as its owner and registers again, unclaimed. */
async function cmdDisown(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { registry: { type: 'string' } });
  if (values.help) return help(io, 'disown');
  if (positionals.length !== 1) throw new UsageError('disown needs one JID (xiot disown --help)');
  const jid = bareOf(positionals[0] as string);
  const registry = registryOf(values, io, 'disown');
  const timeoutMs = duration('timeout', values.timeout, 10_000);
  const session = await connect(values, io, timeoutMs);
  try {
    await session.transport.request(
      xml('iq', { type: 'set', to: registry }, xml('disown', { xmlns: NS_DISCOVERY, jid })),
      timeoutMs,
    );
    io.stdout.write(`disowned ${jid}: it registers again, unclaimed, with a new claim code\n`);
    return EXIT.ok;
  } catch (err) {
    const condition = (err as { condition?: string }).condition;
    if (condition === 'item-not-found') {
      io.stderr.write(`xiot: ${registry} knows no thing ${jid} of yours\n`);
      return EXIT.failed;
    }
    if (condition === 'not-allowed') {
      io.stderr.write(`xiot: ${jid} did not acknowledge (offline?): it is still yours\n`);
      return EXIT.failed;
    }
    throw err;
  } finally {
    await session.close();
  }
}

function help(io: Io, command: string): number {
  io.stdout.write(`${OPERATOR_COMMAND_HELP[command] ?? OPERATOR_HELP}\n`);
  return EXIT.ok;
}

export const OPERATOR_COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  read: cmdRead,
  set: cmdSet,
  form: cmdForm,
  watch: cmdWatch,
  devices: cmdDevices,
  claim: cmdClaim,
  things: cmdThings,
  disown: cmdDisown,
};

/** Runs one operator command; maps connection failures to exit 3 and failures to exit 1. */
export async function runOperatorCommand(name: string, argv: string[], io: Io): Promise<number> {
  const run = OPERATOR_COMMANDS[name];
  if (!run) throw new UsageError(`unknown command "${name}"`);
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConnectError) {
      io.stderr.write(`xiot: cannot connect: ${err.message}\n`);
      return EXIT.connect;
    }
    io.stderr.write(`xiot: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
}
