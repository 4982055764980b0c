import { EventEmitter } from 'node:events';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../src/config/hub-config.js';
import { createIngest, type Ingest } from '../../src/hub/ingest.js';
import { fieldsElement, historyTruncated, nodeElement, parseDateTime } from '../../src/iot/sensordata.js';
import { NS } from '../../src/xmpp/ns.js';
import { type Transport, XmppStanzaError } from '../../src/xmpp/transport.js';
import { memoryHistory } from '../helpers/memory-history.js';
import { recordingLogger } from '../helpers/transport.js';
import { waitFor } from '../helpers/agent.js';

const HUB = 'hub.example.org';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (i: number) => T0 + i * 100;

/** A thing as the hub sees it over XMPP: its stored readings, answered to historical readouts with a limit. */
interface FakeThing {
  jid: string;
  full: string;
  /** Timestamps of the readings it keeps (one field `n` on node `dev`). */
  stored: number[];
  limit: number;
  refuse?: boolean;
  /** Readouts that fail (no answer from it) before it answers again. */
  failures?: number;
  /** `from` of each historical readout it was asked for (undefined = everything). */
  asked: (number | undefined)[];
  /** Holds its answers until the test releases them. */
  gate?: Promise<void>;
}

const reading = (ts: number) => ({
  timestamp: ts,
  fields: [
    {
      name: 'n',
      type: 'int' as const,
      value: ts - T0,
      flags: ['momentary' as const],
      qos: ['automaticReadout' as const],
    },
  ],
});

function fakeNetwork() {
  const events = new EventEmitter();
  const sent: Element[] = [];
  const things = new Map<string, FakeThing>();
  let online = true;
  const emit = (el: Element) => events.emit('stanza', el);
  const transport = {
    bareJid: HUB,
    get jid() {
      return online ? HUB : undefined;
    },
    get online() {
      return online;
    },
    on: (e: string, l: (...a: unknown[]) => void) => events.on(e, l),
    off: (e: string, l: (...a: unknown[]) => void) => events.off(e, l),
    send: async (el: Element) => void sent.push(el),
    handleIq: () => undefined,
    async request(iq: Element): Promise<Element> {
      sent.push(iq);
      const to = iq.attrs.to as string;
      const thing = [...things.values()].find((t) => t.full === to || t.jid === to);
      if (!thing) throw new XmppStanzaError('service-unavailable', undefined, iq);
      if (iq.getChild('pubsub', NS.pubsub)) return xml('iq', { type: 'result' });
      const req = iq.getChild('req', NS.sensordata) as Element;
      if (thing.refuse) throw new XmppStanzaError('forbidden', 'not allowed to read this device', iq);
      if (thing.failures) {
        thing.failures--;
        throw new XmppStanzaError('service-unavailable', undefined, iq);
      }
      const from = req.attrs.from ? parseDateTime(req.attrs.from as string) : undefined;
      thing.asked.push(from);
      const rows = thing.stored.filter((ts) => from === undefined || ts >= from).sort((a, b) => a - b);
      const seqnr = Number(req.attrs.seqnr);
      const page = rows.slice(0, thing.limit);
      const messages = [fieldsElement(seqnr, false, [nodeElement('dev', page.map(reading))])];
      if (rows.length > thing.limit)
        messages.push(historyTruncated(seqnr, [{ id: 'dev' }], thing.limit, rows[thing.limit] as number));
      (messages.at(-1) as Element).attrs.done = 'true';
      void (thing.gate ?? Promise.resolve()).then(() => {
        for (const m of messages) emit(xml('message', { from: thing.full, to: iq.attrs.from }, m));
      });
      return xml('iq', { type: 'result' }, xml('accepted', { xmlns: NS.sensordata, seqnr: String(seqnr) }));
    },
  } as unknown as Transport;
  return {
    transport,
    sent,
    emit,
    addThing(name: string, stored: number[] = [], limit = 1000): FakeThing {
      const t = { jid: `${name}@example.org`, full: `${name}@example.org/agent`, stored, limit, asked: [] };
      things.set(t.jid, t);
      return t;
    },
    presence(thing: FakeThing, type?: string) {
      emit(xml('presence', { from: thing.full, to: HUB, ...(type ? { type } : {}) }));
    },
    /** A PEP notification of the thing's readings at `ts`. */
    notify(thing: FakeThing, ...ts: number[]) {
      emit(
        xml(
          'message',
          { from: thing.jid, to: `${HUB}/ingest`, type: 'headline' },
          xml(
            'event',
            { xmlns: NS.pubsubEvent },
            xml(
              'items',
              { node: NS.sensordata },
              ...ts.map((t) =>
                xml('item', { id: 'dev' }, fieldsElement(0, true, [nodeElement('dev', [reading(t)])])),
              ),
            ),
          ),
        ),
      );
    },
    setOnline(value: boolean) {
      online = value;
      events.emit(value ? 'online' : 'offline', HUB);
    },
  };
}

const ingests: Ingest[] = [];
afterEach(async () => {
  for (const i of ingests.splice(0)) await i.stop();
});

function setUp(opts: { things?: string[]; claimed?: string[]; bufferLimit?: number } = {}) {
  const net = fakeNetwork();
  const history = memoryHistory();
  const log = recordingLogger();
  const claimed = opts.claimed ?? [];
  const ingest = createIngest({
    transport: net.transport,
    history,
    claimed: () => claimed,
    log,
    options: {
      things: opts.things ?? ['a@example.org'],
      periodMs: 3_600_000,
      overlapMs: 0,
      ...(opts.bufferLimit ? { bufferLimit: opts.bufferLimit } : {}),
    },
  });
  ingests.push(ingest);
  const stamps = (thing = 'a@example.org') =>
    [...history.rows.values()]
      .filter((r) => r.thing === thing)
      .map((r) => r.timestamp)
      .sort((x, y) => x - y);
  return { net, history, log, ingest, stamps, claimed };
}

describe('ingest', () => {
  it('asks each known thing for friendship at every connection, and probes it once it answers', () => {
    const { net, ingest } = setUp({ things: ['a@example.org'], claimed: ['b@example.org'] });
    const a = net.addThing('a');
    ingest.start();
    const presences = (to: string) =>
      net.sent.filter((s) => s.is('presence') && s.attrs.to === to).map((s) => s.attrs.type ?? 'available');
    // No probe before the subscription exists: Prosody would answer it `unsubscribed`, dropping the request.
    expect(presences('a@example.org')).toEqual(['subscribe']);
    expect(presences('b@example.org')).toEqual(['subscribe']);
    net.emit(xml('presence', { from: a.jid, to: HUB, type: 'subscribed' }));
    expect(presences('a@example.org')).toEqual(['subscribe', 'available', 'probe']);
    expect(net.sent.find((s) => s.attrs.type === 'probe')?.attrs.from).toBe(HUB);
    expect(net.sent.find((s) => s.is('presence') && !s.attrs.type)?.attrs.from).toBe(`${HUB}/ingest`);
    net.setOnline(false);
    net.setOnline(true);
    expect(presences('a@example.org')).toEqual(['subscribe', 'available', 'probe', 'subscribe']);
    // The thing asks for ours too (the agent befriends its provisioning server both ways).
    net.emit(xml('presence', { from: a.jid, to: HUB, type: 'subscribe' }));
    expect(net.sent.at(-1)?.attrs).toMatchObject({ type: 'subscribed', to: a.jid });
  });

  it('backfills a thing when it comes online, subscribes to its PEP node, then stores notifications live', async () => {
    const { net, ingest, stamps, history } = setUp();
    const a = net.addThing('a', [at(0), at(1), at(2)]);
    ingest.start();
    net.presence(a);
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    expect(a.asked).toEqual([undefined]);
    expect(stamps()).toEqual([at(0), at(1), at(2)]);
    const subscribe = net.sent.find((s) => s.getChild('pubsub', NS.pubsub));
    expect(subscribe?.getChild('pubsub')?.getChild('subscribe')?.attrs).toEqual({
      node: NS.sensordata,
      jid: `${HUB}/ingest`,
    });
    net.notify(a, at(3));
    net.notify(a, at(3)); // Prosody sends some events twice: stored once
    await ingest.idle();
    expect(stamps()).toEqual([at(0), at(1), at(2), at(3)]);
    expect(history.rows.get(`a@example.org\u0000dev\u0000${at(3)}\u0000n`)).toMatchObject({
      thing: 'a@example.org',
      nodeId: 'dev',
      name: 'n',
      type: 'int',
      value: '300',
    });
    const stats = ingest.stats();
    expect(stats).toMatchObject({ readingsIngested: 4, notifications: 2, liveReadings: 1, backfills: 1 });
    expect(stats.things).toEqual([{ jid: 'a@example.org', online: true, synced: true, lastSeen: at(3) }]);
    expect(stats.lagMs).toBeGreaterThanOrEqual(0);
  });

  it('pages a truncated historical readout until the agent has nothing more', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing(
      'a',
      Array.from({ length: 10 }, (_, i) => at(i)),
      4,
    );
    ingest.start();
    net.presence(a);
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    expect(stamps()).toEqual(Array.from({ length: 10 }, (_, i) => at(i)));
    expect(a.asked).toEqual([undefined, at(4), at(8)]);
  });

  it('starts a backfill at the newest stored reading', async () => {
    const { net, ingest, history } = setUp();
    await history.insert([
      {
        thing: 'a@example.org',
        nodeId: 'dev',
        name: 'n',
        type: 'int',
        value: '5',
        timestamp: at(5),
        flags: [],
        qos: [],
      },
    ]);
    const a = net.addThing('a', [at(4), at(5), at(6)]);
    ingest.start();
    net.presence(a);
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    expect(a.asked).toEqual([at(5)]);
    expect(ingest.stats().backfilledReadings).toBe(1);
  });

  it('holds notifications while behind, so the stored history stays a complete prefix', async () => {
    const { net, ingest, stamps, history } = setUp();
    const a = net.addThing('a', [at(0), at(1), at(2), at(3)]);
    let release = () => undefined as void;
    a.gate = new Promise((r) => (release = r));
    ingest.start();
    // Notified while the hub has not caught up (no presence seen yet): not stored yet.
    net.notify(a, at(3));
    await ingest.idle();
    expect(stamps()).toEqual([]);
    net.presence(a);
    await waitFor('the readout asked for', () => a.asked.length === 1);
    net.notify(a, at(4)); // during the backfill
    await new Promise((r) => setImmediate(r));
    expect(stamps()).toEqual([]);
    release();
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    expect(stamps()).toEqual([at(0), at(1), at(2), at(3), at(4)]);
    // Never a later reading stored before an earlier one: the backfill first, what waited after.
    expect(history.inserts.map((batch) => batch.map((r) => r.timestamp))).toEqual([
      [at(0), at(1), at(2), at(3)],
      [at(3), at(4)],
    ]);
  });

  it('backfills again after the hub reconnects (PEP does not redeliver what it missed)', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing('a', [at(0)]);
    ingest.start();
    net.presence(a);
    await waitFor('the first backfill', () => ingest.stats().backfills === 1);
    net.setOnline(false);
    a.stored.push(at(1), at(2)); // published while the hub was away
    net.setOnline(true);
    expect(ingest.stats().things[0]).toMatchObject({ online: false, synced: false });
    net.presence(a); // the probe's answer
    await waitFor('the second backfill', () => ingest.stats().backfills === 2);
    expect(a.asked).toEqual([undefined, at(0)]);
    expect(stamps()).toEqual([at(0), at(1), at(2)]);
  });

  it('finds a gap nothing announced with the periodic backfill', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing('a', [at(0)]);
    ingest.start();
    net.presence(a);
    await waitFor('the first backfill', () => ingest.stats().backfills === 1);
    a.stored.push(at(1), at(2), at(3));
    net.notify(a, at(1)); // at(2) was dropped by the server
    net.notify(a, at(3));
    await ingest.idle();
    expect(stamps()).toEqual([at(0), at(1), at(3)]);
    await ingest.backfill(); // what the period runs
    // From the newest reading a backfill proved complete, not from the newest notified.
    expect(a.asked).toEqual([undefined, at(0)]);
    expect(stamps()).toEqual([at(0), at(1), at(2), at(3)]);
  });

  it('keeps live readings of a thing that refuses readouts, and says how to fix it once', async () => {
    const { net, ingest, stamps, log } = setUp();
    const a = net.addThing('a', [at(0)]);
    a.refuse = true;
    ingest.start();
    net.notify(a, at(1));
    net.presence(a);
    await waitFor('live-only', () => ingest.stats().things[0]?.refused);
    net.notify(a, at(2));
    await ingest.idle();
    expect(stamps()).toEqual([at(1), at(2)]);
    await ingest.backfill();
    const warnings = log.lines.filter((l) => l.level === 'warn' && l.msg.includes('provisioning.servers'));
    expect(warnings).toHaveLength(1);
  });

  it('retries a failed backfill while the thing is online, with backoff', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing('a', [at(0), at(1)]);
    a.failures = 1;
    ingest.start();
    net.presence(a);
    await waitFor('the failure', () => ingest.stats().backfillFailures === 1);
    expect(stamps()).toEqual([]);
    await waitFor('the retry (after 1 s)', () => ingest.stats().backfills === 1, 5000);
    expect(stamps()).toEqual([at(0), at(1)]);
  });

  it('gives up a readout when the thing goes offline, and backfills again when it is back', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing('a', [at(0), at(1)]);
    a.gate = new Promise(() => undefined); // its answer never comes: it went away mid-readout
    ingest.start();
    net.presence(a);
    await waitFor('the readout asked for', () => a.asked.length === 1);
    net.presence(a, 'unavailable');
    await waitFor('the readout given up', () => ingest.stats().backfillFailures === 1, 2000);
    a.gate = undefined;
    net.presence(a);
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    expect(stamps()).toEqual([at(0), at(1)]);
  });

  it('asks again for the presence of a thing that publishes while the hub has none', async () => {
    const { net, ingest } = setUp();
    const a = net.addThing('a', []);
    ingest.start();
    const asked = () =>
      net.sent.filter((s) => s.attrs.to === a.jid && s.is('presence')).map((s) => s.attrs.type);
    expect(asked()).toEqual(['subscribe']);
    net.notify(a, at(1));
    net.notify(a, at(2)); // at most every 5 s
    expect(asked()).toEqual(['subscribe', 'subscribe', undefined, 'probe']);
  });

  it('ignores notifications of things it does not know and readings it cannot store', async () => {
    const { net, ingest, stamps } = setUp();
    const a = net.addThing('a', []);
    const stranger = net.addThing('stranger', []);
    ingest.start();
    net.presence(a);
    await waitFor('the backfill', () => ingest.stats().backfills === 1);
    net.notify(stranger, at(1));
    net.emit(
      xml(
        'message',
        { from: a.jid },
        xml(
          'event',
          { xmlns: NS.pubsubEvent },
          xml(
            'items',
            { node: NS.sensordata },
            xml(
              'item',
              { id: 'dev' },
              xml(
                'fields',
                { xmlns: NS.sensordata, seqnr: '0', done: 'true' },
                xml(
                  'node',
                  { nodeId: 'dev' },
                  xml('timestamp', { value: 'yesterday' }, xml('int', { name: 'n', value: '1' })),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    await ingest.idle();
    expect(stamps('stranger@example.org')).toEqual([]);
    expect(stamps()).toEqual([]);
    expect(ingest.stats().things.map((t) => t.jid)).toEqual(['a@example.org']);
  });

  it('repairs a failed write with a backfill from the unchanged newest reading', async () => {
    const { net, ingest, stamps, history } = setUp();
    const a = net.addThing('a', [at(0)]);
    ingest.start();
    net.presence(a);
    await waitFor('the first backfill', () => ingest.stats().backfills === 1);
    a.stored.push(at(1), at(2));
    history.failNext(1);
    net.notify(a, at(1));
    await waitFor('the repair', () => ingest.stats().backfills === 2);
    net.notify(a, at(2));
    await ingest.idle();
    expect(stamps()).toEqual([at(0), at(1), at(2)]);
  });

  it('drops a full buffer and backfills once more instead of growing without bound', async () => {
    const { net, ingest, stamps } = setUp({ bufferLimit: 2 });
    const a = net.addThing('a', [at(0)]);
    let release = () => undefined as void;
    a.gate = new Promise((r) => (release = r));
    ingest.start();
    net.presence(a);
    await waitFor('the readout asked for', () => a.asked.length === 1);
    a.stored.push(at(1), at(2), at(3));
    net.notify(a, at(1), at(2), at(3));
    release();
    await waitFor('two rounds', () => ingest.stats().backfills === 2);
    expect(ingest.stats().bufferOverflows).toBe(1);
    expect(stamps()).toEqual([at(0), at(1), at(2), at(3)]);
  });

  it('picks up things claimed later in the registry, and forgets disowned ones', () => {
    const { net, ingest, claimed } = setUp({ things: [] });
    ingest.start();
    expect(ingest.stats().things).toEqual([]);
    claimed.push('c@example.org');
    ingest.refresh();
    expect(ingest.stats().things.map((t) => t.jid)).toEqual(['c@example.org']);
    expect(net.sent.some((s) => s.attrs.to === 'c@example.org' && s.attrs.type === 'subscribe')).toBe(true);
    claimed.pop();
    ingest.refresh();
    expect(ingest.stats().things).toEqual([]);
  });
});

describe('the hub config things', () => {
  const base = 'xmpp:\n  component: { service: "xmpp://127.0.0.1:5347", domain: hub.localhost, secret: s }\n';
  it('lists bare JIDs to ingest, lower-cased and once each', () => {
    expect(
      parseHubConfig(`${base}things: [Kitchen@Example.org, kitchen@example.org, hall@example.org]\n`).things,
    ).toEqual(['kitchen@example.org', 'hall@example.org']);
    expect(parseHubConfig(base).things).toBeUndefined();
  });

  it('refuses a full JID or a domain with the key path', () => {
    expect(() => parseHubConfig(`${base}things: [kitchen@example.org/agent, example.org]\n`)).toThrow(
      /things\[0\]: expected a bare JID[\s\S]*things\[1\]: expected a bare JID/,
    );
  });
});
