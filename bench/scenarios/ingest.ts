/**
 * Hub ingest (issue 16): readings stored per second by the hub's ingest (a component subscribed to the things'
 * PEP nodes, writing the fleet history) against the server's publish ceiling measured in the same run: raw
 * pipelined publishers (64 publishes in flight each) whose notifications a plain client also counts. Both see the
 * same publishes, so the ratio is what ingest keeps of what the server can deliver. Lag: how long after the plain
 * subscriber got a notification the hub had stored it; "no growing lag" compares the run's first and last tenth.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { silentLogger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import { createHub } from '../../src/hub/hub.js';
import type { HistoryStore } from '../../src/hub/history.js';
import type { Reading } from '../../src/model/fields.js';
import { publishElement } from '../../src/agent/publisher.js';
import { createComponentTransport } from '../../src/xmpp/component.js';
import { fieldsElement } from '../../src/iot/sensordata.js';
import { NS } from '../../src/xmpp/ns.js';
import type { Transport } from '../../src/xmpp/transport.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import { type BenchOptions, benchTransport, median, pool, type Row, sleep } from '../lib.js';

export const INGEST_HUB = { name: 'hub.localhost', secret: 'bench-hub-secret' };

const PUBLISHERS = ['ing1', 'ing2', 'ing3'];

const reading = (t: number): Reading => ({
  deviceId: 'dev',
  timestamp: t,
  fields: [
    { name: 'load1', type: 'numeric', value: 0.5, unit: '', decimals: 2, flags: ['momentary'], qos: [] },
    { name: 'memUsed', type: 'numeric', value: 42.1, unit: '%', decimals: 1, flags: ['momentary'], qos: [] },
  ],
});

/** A raw thing: approves the hub and the counter, and answers a historical readout with nothing (it keeps no store). */
async function rawThing(server: XmppServer, username: string): Promise<Transport> {
  const t = benchTransport(server, username);
  t.on('stanza', (s: Element) => {
    if (s.is('presence') && s.attrs.type === 'subscribe') {
      const peer = String(s.attrs.from).split('/')[0] as string;
      // Answers can race our stop at the end of the run: a closing connection is no error here.
      void t
        .send(xml('presence', { type: 'subscribed', to: peer }))
        .then(() => t.send(xml('presence', { type: 'subscribe', to: peer })))
        .catch(() => undefined);
    }
  });
  t.handleIq('get', NS.sensordata, 'req', (stanza, req) => {
    const seqnr = req.attrs.seqnr as string;
    setImmediate(
      () =>
        void t
          .send(xml('message', { to: stanza.attrs.from as string }, fieldsElement(seqnr, true, [])))
          .catch(() => undefined),
    );
    return xml('accepted', { xmlns: NS.sensordata, seqnr });
  });
  await t.start();
  await t.send(xml('presence'));
  return t;
}

export async function ingestScenario(
  server: XmppServer,
  dir: string,
  opts: BenchOptions,
  openHistory: (path: string) => Promise<HistoryStore>,
): Promise<Row[]> {
  const n = opts.smoke ? 300 : 3000; // per publisher
  for (const u of [...PUBLISHERS, 'ingsub']) await server.register(u, `${u}-pw`);
  const publishers = await Promise.all(PUBLISHERS.map((u) => rawThing(server, u)));
  // The ceiling's counter: a plain client, subscribed to each publisher's PEP node.
  const sub = await rawThing(server, 'ingsub');
  /** Readings older than this are not counted (the warm-up's, once the measured run starts). */
  let measuredFrom = -Infinity;
  const arrivals = new Map<string, number>(); // publisher\0timestamp → when the counter got it
  sub.on('stanza', (s: Element) => {
    if (!s.is('message') || s.attrs.to !== 'ingsub@localhost/bench') return;
    const items = s.getChild('event', NS.pubsubEvent)?.getChild('items');
    for (const item of items?.getChildren('item') ?? []) {
      const ts = item.getChild('fields', NS.sensordata)?.getChild('node')?.getChild('timestamp')?.attrs.value;
      if (ts && Date.parse(ts as string) >= measuredFrom)
        arrivals.set(
          `${String(s.attrs.from).split('/')[0]}\u0000${Date.parse(ts as string)}`,
          performance.now(),
        );
    }
  });
  // Notified like an owner's client: a presence subscription and +notify in its caps (XEP-0163), as in the
  // publish scenario (works on both servers).
  const subClient = createSensorClient({ transport: sub, log: silentLogger(), approve: () => true });
  await subClient.announce();
  for (const u of PUBLISHERS) await subClient.subscribe(`${u}@localhost`);

  const history = await openHistory(`${dir}/ingest-history.db`);
  const stored = new Map<string, number>(); // thing\0timestamp → when the hub stored it
  history.onInsert((readings) => {
    const now = performance.now();
    for (const r of readings) {
      if (r.timestamp < measuredFrom) continue;
      const key = `${r.thing}\u0000${r.timestamp}`;
      if (!stored.has(key)) stored.set(key, now);
    }
  });
  const component = {
    service: `xmpp://127.0.0.1:${server.componentPort}`,
    domain: INGEST_HUB.name,
    secret: INGEST_HUB.secret,
  };
  const hub = createHub(
    {
      xmpp: { component },
      store: `${dir}/ingest-hub.db`,
      registry: { claimAttemptsPerMinute: 5 },
      log: { level: 'warn' },
      history: {
        store: `${dir}/ingest-history.db`,
        retention: { rawMs: 30 * 86_400_000, aggregatesMs: 365 * 86_400_000, resolutionMs: 60_000 },
      },
      things: PUBLISHERS.map((u) => `${u}@localhost`),
    },
    { log: silentLogger(), history, transport: createComponentTransport(component, silentLogger()) },
  );
  try {
    await hub.start();
    // Warm-up: one publish each creates the nodes; then both subscribers are in place and the hub caught up.
    const target = { service: 'pep', node: NS.sensordata, accessModel: 'presence' };
    let t0 = Date.now() - 10 * n;
    // The first publish creates each node; ejabberd answered it item-not-found once in a few runs: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await Promise.all(publishers.map((p) => p.request(publishElement(target, reading(t0++)))));
        break;
      } catch (err) {
        if (attempt >= 5) throw new Error(`first publish: ${(err as Error).message}`, { cause: err });
        await sleep(500);
      }
    }
    const deadline = Date.now() + 30_000;
    while (!hub.ingest?.stats().things.every((t) => t.synced)) {
      if (Date.now() > deadline)
        throw new Error(`the hub did not catch up: ${JSON.stringify(hub.ingest?.stats())}`);
      await sleep(50);
    }
    // The counter is notified once PEP knows its interest (after its subscription was approved): publish until it is.
    const counted = Date.now() + 30_000;
    while (PUBLISHERS.some((u) => ![...arrivals.keys()].some((k) => k.startsWith(`${u}@localhost\u0000`)))) {
      if (Date.now() > counted) throw new Error('the plain subscriber gets no notifications');
      await Promise.all(publishers.map((p) => p.request(publishElement(target, reading(t0++)))));
      await sleep(200);
    }
    // From here on only the measured readings count: a warm-up reading the hub stores late is not one of them.
    const base = Date.now();
    measuredFrom = base;
    arrivals.clear();
    stored.clear();

    await Promise.all(
      publishers.map((p) =>
        pool(
          Array.from({ length: n }, (_, i) => i),
          64,
          async (i) => {
            await p.request(publishElement(target, reading(base + i)));
          },
        ),
      ),
    );
    const total = n * PUBLISHERS.length;
    const until = Date.now() + 60_000;
    while ((arrivals.size < total || stored.size < total) && Date.now() < until) await sleep(20);
    const rate = (times: Map<string, number>) => {
      const t = [...times.values()].sort((a, b) => a - b);
      return t.length < 2 ? Number.NaN : (t.length - 1) / (((t.at(-1) as number) - (t[0] as number)) / 1000);
    };
    // Lag of each reading behind the counter's copy, in publish order; first and last tenth compared.
    const lags = [...arrivals.entries()]
      .sort((a, b) => a[1] - b[1])
      .map(([k, at]) => (stored.get(k) ?? Number.NaN) - at);
    const tenth = Math.max(1, Math.floor(lags.length / 10));
    const early = median(lags.slice(0, tenth));
    const late = median(lags.slice(-tenth));
    const missing = total - stored.size;
    return [
      {
        scenario: 'ingest',
        metric: `hub ingest readings/s (${PUBLISHERS.length} raw publishers × ${n})`,
        ours: rate(stored),
        baseline: 'server publish ceiling (counted by a plain subscriber)',
        baselineValue: rate(arrivals),
        unit: '/s',
        better: 'higher',
        target: '≥ 0.9×',
        note: `${missing} of ${total} not stored within 60 s; ${arrivals.size} counted`,
      },
      {
        scenario: 'ingest',
        metric:
          'ingest lag growth: hub behind the plain subscriber, last tenth − first tenth of the run (medians)',
        ours: late - early,
        baseline: '–',
        baselineValue: undefined,
        unit: 'ms',
        better: 'lower',
        target: '≤ 50 ms (no growing lag)',
        note: `first tenth ${early.toFixed(1)} ms, last tenth ${late.toFixed(1)} ms (negative: stored before the subscriber saw it)`,
      },
    ];
  } finally {
    await hub.stop();
    for (const p of publishers) await p.stop();
    await sub.stop();
  }
}
