/**
 * Acknowledged publishes per second to PEP, counted by a subscriber: our agent draining N readings from its
 * outbox, a slixmpp xep_0060 publisher of the same payload (each publish awaits its ack; Prosody only), and a
 * minimal pipelined raw publisher (64 in flight, the ceiling), each on the same server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { silentLogger } from '../../src/core/logger.js';
import type { XmppServer } from '../../src/devtools/xmpp-server.js';
import type { Reading } from '../../src/model/fields.js';
import { openStore } from '../../src/store/store.js';
import { NS } from '../../src/xmpp/ns.js';
import { publishElement } from '../../src/agent/publisher.js';
import { createSensorClient } from '../../src/operator/sensor-client.js';
import { readingPayload } from '../../src/iot/sensordata.js';
import type { Transport } from '../../src/xmpp/transport.js';
import {
  agentYaml,
  type BenchOptions,
  median,
  pool,
  type Row,
  sleep,
  startAgentProcess,
  startSlixmppPeer,
  stopChild,
  benchTransport,
} from '../lib.js';

const reading = (i: number): Reading => ({
  deviceId: 'host',
  timestamp: Date.UTC(2026, 0, 1) + i,
  fields: [
    {
      name: 'load1',
      type: 'numeric',
      value: 0.5,
      unit: '',
      decimals: 2,
      flags: ['momentary'],
      qos: ['automaticReadout'],
    },
    {
      name: 'memUsed',
      type: 'numeric',
      value: 42.1,
      unit: '%',
      decimals: 1,
      flags: ['momentary'],
      qos: ['automaticReadout'],
    },
  ],
});

async function login(server: XmppServer, username: string, approve: string[] = []): Promise<Transport> {
  const t = benchTransport(server, username);
  t.on('stanza', (s: Element) => {
    if (
      s.is('presence') &&
      s.attrs.type === 'subscribe' &&
      approve.some((a) => String(s.attrs.from).startsWith(a))
    ) {
      // Friends both ways, as our agent and slixmpp do: Prosody's PEP then learns the subscriber's interest
      // from its broadcast presence.
      const peer = String(s.attrs.from).split('/')[0] as string;
      void t
        .send(xml('presence', { type: 'subscribed', to: peer }))
        .then(() => t.send(xml('presence', { type: 'subscribe', to: peer })));
    }
  });
  await t.start();
  await t.send(xml('presence'));
  return t;
}

export async function publishScenario(server: XmppServer, dir: string, opts: BenchOptions): Promise<Row[]> {
  const n = opts.smoke ? 30 : 2000;
  const withSlixmpp = server.kind === 'prosody';
  for (const u of ['pagent', 'pslix', 'praw', 'psub']) await server.register(u, `${u}-pw`);
  // The subscriber counts every notification addressed to its full JID (Prosody also sends a copy to the bare JID,
  // ejabberd only this one).
  const sub = benchTransport(server, 'psub');
  const subClient = createSensorClient({ transport: sub, log: silentLogger(), approve: () => true });
  const arrivals = new Map<string, number[]>();
  sub.on('stanza', (s: Element) => {
    if (!s.is('message') || s.attrs.to !== 'psub@localhost/bench' || !s.getChild('event', NS.pubsubEvent))
      return;
    const from = String(s.attrs.from).split('/')[0] as string;
    const list = arrivals.get(from) ?? [];
    list.push(performance.now());
    arrivals.set(from, list);
  });
  sub.on('online', () => void subClient.announce());
  await sub.start();
  const raw = await login(server, 'praw', ['psub@']);
  for (const who of ['pagent', ...(withSlixmpp ? ['pslix'] : []), 'praw'])
    await subClient.subscribe(`${who}@localhost`);
  await sleep(500);

  const rate = (from: string, count: number) => {
    const t = arrivals.get(from) ?? [];
    if (t.length < count) return Number.NaN;
    const first = t[t.length - count] as number;
    return (count - 1) / (((t.at(-1) as number) - first) / 1000);
  };
  const payload = readingPayload(reading(0)).toString();
  /** Writes the publishing agent's config (one system device, the subscriber as owner); returns its path. */
  const agentConfig = (file: string, store: string): string => {
    const path = join(dir, file);
    writeFileSync(
      path,
      agentYaml({
        service: server.service,
        username: 'pagent',
        owners: ['psub@localhost'],
        store,
        devices: '  - { id: host, type: system, interval: 1h }',
      }),
    );
    return path;
  };
  // Warm-up: the agent's first login completes its friendship with the subscriber (pending subscription
  // approved, subscriber's presence reaches the PEP service); only then are notifications delivered.
  {
    const config = agentConfig('publish-warmup.yaml', join(dir, 'warmup.db'));
    const agent = await startAgentProcess(config, 'pagent-pw');
    await waitCount(arrivals, 'pagent@localhost', 1, 10_000).catch(() => undefined);
    await stopChild(agent.child);
    if (withSlixmpp) {
      const slix = await startSlixmppPeer(
        {
          jid: 'pslix@localhost',
          password: 'pslix-pw',
          port: server.c2sPort,
          mode: 'publish',
          count: 1,
          payload,
          pepNode: NS.sensordata,
          itemId: 'host',
        },
        (e) => e.event === 'done',
      );
      await waitCount(arrivals, 'pslix@localhost', 1, 10_000).catch(() => undefined);
      await stopChild(slix.child);
    }
  }
  const results: Record<string, number[]> = { ours: [], slixmpp: [], raw: [] };
  for (let r = 0; r < opts.repeats; r++) {
    // Ours: N readings waiting in the outbox; the agent publishes them when it comes online.
    const storePath = join(dir, `publish-${r}.db`);
    const store = openStore(storePath);
    for (let i = 0; i < n; i++) store.add(reading(r * n + i), true);
    store.close();
    const config = agentConfig(`publish-${r}.yaml`, storePath);
    arrivals.delete('pagent@localhost');
    const agent = await startAgentProcess(config, 'pagent-pw');
    try {
      await waitCount(arrivals, 'pagent@localhost', n, 120_000);
    } finally {
      await stopChild(agent.child); // also when notifications are missing: no agent outlives the run
    }
    results.ours?.push(rate('pagent@localhost', n));

    if (withSlixmpp) {
      arrivals.delete('pslix@localhost');
      const slix = await startSlixmppPeer(
        {
          jid: 'pslix@localhost',
          password: 'pslix-pw',
          port: server.c2sPort,
          mode: 'publish',
          count: n,
          payload,
          pepNode: NS.sensordata,
          itemId: 'host',
        },
        (e) => e.event === 'done',
      );
      await waitCount(arrivals, 'pslix@localhost', n, 120_000);
      results.slixmpp?.push(rate('pslix@localhost', n));
      await stopChild(slix.child);
    }

    arrivals.delete('praw@localhost');
    const target = { service: 'pep', node: NS.sensordata, accessModel: 'presence' };
    await pool(
      Array.from({ length: n }, (_, i) => i),
      64,
      async (i) => {
        await raw.request(publishElement(target, reading(i)));
      },
    );
    await waitCount(arrivals, 'praw@localhost', n, 120_000);
    results.raw?.push(rate('praw@localhost', n));
  }
  await raw.stop();
  await sub.stop();
  const ours = median(results.ours ?? []);
  return [
    ...(withSlixmpp
      ? [
          {
            scenario: 'publish',
            metric: 'acked publishes/s to PEP',
            ours,
            baseline: 'slixmpp 1.8.3 xep_0060',
            baselineValue: median(results.slixmpp ?? []),
            unit: '/s',
            better: 'higher',
            target: '≥ 4×',
          } satisfies Row,
        ]
      : []),
    {
      scenario: 'publish',
      metric: 'acked publishes/s to PEP',
      ours,
      baseline: 'raw pipelined publisher',
      baselineValue: median(results.raw ?? []),
      unit: '/s',
      better: 'higher',
      target: '≥ 0.8×',
    },
  ];
}

async function waitCount(
  arrivals: Map<string, number[]>,
  from: string,
  n: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((arrivals.get(from)?.length ?? 0) < n) {
    if (Date.now() > deadline) {
      throw new Error(
        `${from}: ${arrivals.get(from)?.length ?? 0} of ${n} notifications (seen from: ${[...arrivals.keys()].join(', ')})`,
      );
    }
    await sleep(20);
  }
}
