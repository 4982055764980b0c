/** `xiot watch`: readings as agents publish them (PEP notifications). */
import { xml } from '@xmpp/client';
import { bareOf } from '../xmpp/jid.js';
import { formatTable } from './table.js';
import { EXIT } from './usage.js';
import {
  type Io,
  parse,
  duration,
  PRESENCE_WAIT_MS,
  connect,
  notOnline,
  fieldRows,
  help,
} from './session.js';

export async function cmdWatch(argv: string[], io: Io): Promise<number> {
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
