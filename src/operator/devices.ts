/** `xiot devices`: agents, their presence, what they offer and their devices. */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { parseDiscoInfo } from '../xmpp/disco.js';
import { NS } from '../xmpp/ns.js';
import { parseFields } from '../iot/sensordata.js';
import { formatTable } from './table.js';
import { EXIT } from './usage.js';
import { type Io, parse, duration, PRESENCE_WAIT_MS, connect, fanOut, help } from './session.js';

export async function cmdDevices(argv: string[], io: Io): Promise<number> {
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
