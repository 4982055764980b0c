/**
 * Hostile traffic against a running agent (issue 13): a seeded generator of valid and malformed stanzas (XEP-0323
 * readouts, XEP-0325 sets, XEP-0050 commands with bad forms, chat, disco, unknown namespaces, big attributes) and a
 * flood driver that sends them from several accounts while an owner keeps reading, counting the replies to every
 * IQ by id (unique ids: slixmpp-style id reuse would hide a missing or double reply) and sampling the agent's RSS.
 * Used by the fuzz test (test/integration/fuzz.test.ts) and the hostile bench scenario.
 */
import { readFileSync } from 'node:fs';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { NS } from '../src/xmpp/ns.js';
import type { createSensorClient } from '../src/operator/sensor-client.js';
import type { Transport } from '../src/xmpp/transport.js';

const NS_COMMANDS = 'http://jabber.org/protocol/commands';

/** mulberry32: small, fast, good enough to make a flood reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface HostileOptions {
  /** The agent's full JID. */
  to: string;
  /** Largest big attribute, in bytes (keep it under the server's stanza size limit). */
  maxAttributeBytes: number;
  /** Parameters in the biggest set. */
  maxParams: number;
  /** One stanza in this many carries a big attribute of maxAttributeBytes (others up to 4 KB). */
  bigEvery: number;
}

export interface HostileStanza {
  stanza: Element;
  /** An iq get/set: exactly one reply is owed. */
  iq: boolean;
  kind: string;
}

const NODES = ['host', 'serial', 'nope', '', 'x'.repeat(300)];
const PARAMS = ['relay', 'label', 'level', 'unknown', ''];
const TYPES = ['boolean', 'int', 'long', 'double', 'string', 'date', 'color', 'bool', 'bogus'];
const VALUES = [
  '1',
  'true',
  'on',
  '-1',
  '99999999999999999999',
  'NaN',
  'INF',
  '',
  '2026-13-45',
  'ZZZZZZ',
  '💥',
];

/** A generator of `count` hostile stanzas; `id(i)` names the i-th IQ (unique per flood). */
export function* hostileStanzas(
  seed: number,
  count: number,
  o: HostileOptions,
  id: (i: number) => string,
): Generator<HostileStanza> {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const int = (n: number) => Math.floor(r() * n);
  const text = (n: number) => 'A'.repeat(n);
  const bigAttr = (i: number): Record<string, string> =>
    i % o.bigEvery === 0 ? { junk: text(o.maxAttributeBytes) } : r() < 0.1 ? { junk: text(int(4096)) } : {};
  const iq = (i: number, type: 'get' | 'set', kind: string, ...payload: Element[]): HostileStanza => ({
    stanza: xml('iq', { type, to: o.to, id: id(i), ...bigAttr(i) }, ...payload),
    iq: true,
    kind,
  });
  const message = (i: number, kind: string, ...payload: Element[]): HostileStanza => ({
    stanza: xml(
      'message',
      { to: o.to, type: pick(['chat', 'normal', 'headline']), ...bigAttr(i) },
      ...payload,
    ),
    iq: false,
    kind,
  });
  const seqnr = () => pick([String(int(1e6)), '-1', 'abc', '', '1e309', String(2 ** 53 + 1)]);
  // At most one big value per stanza, so that a stanza stays under the server's limit (the server would close
  // the sender's stream: a test of the server, not of the agent).
  const param = (big = false) =>
    xml(pick(TYPES), { name: pick(PARAMS), value: big ? text(int(o.maxAttributeBytes)) : pick(VALUES) });
  const form = (formType: string | undefined, fields: number) =>
    xml(
      'x',
      { xmlns: NS.dataForms, type: pick(['submit', 'submit', 'form', 'cancel']) },
      ...(formType ? [xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType))] : []),
      ...Array.from({ length: fields }, () =>
        xml('field', { var: pick([...PARAMS, 'device', 'field']) }, xml('value', {}, pick(VALUES))),
      ),
    );
  for (let i = 0; i < count; i++) {
    switch (int(12)) {
      case 0:
        yield iq(
          i,
          'get',
          'readout',
          xml(
            'req',
            { xmlns: NS.sensordata, seqnr: String(i), momentary: 'true' },
            xml('node', { nodeId: 'host' }),
          ),
        );
        break;
      case 1: {
        const attrs: Record<string, string> = { xmlns: NS.sensordata, seqnr: seqnr() };
        for (const a of ['momentary', 'historical', 'all', 'status']) if (r() < 0.3) attrs[a] = pick(VALUES);
        if (r() < 0.3)
          attrs.when = pick(['2099-01-01T00:00:00Z', new Date(Date.now() + 60_000).toISOString(), 'soon']);
        if (r() < 0.2) attrs.from = pick(['1970-01-01T00:00:00Z', 'yesterday']);
        const manyNodes = r() < 0.1;
        const nodes = Array.from({ length: manyNodes ? 500 + int(1000) : int(4) }, () =>
          xml(
            'node',
            r() < 0.1
              ? {}
              : { nodeId: manyNodes ? 'host' : pick(NODES), ...(r() < 0.1 ? { sourceId: 'src' } : {}) },
          ),
        );
        const fields = Array.from({ length: r() < 0.1 ? 500 + int(1000) : int(4) }, () =>
          xml('field', { name: pick(['load1', 'uptime', '', 'nope']) }),
        );
        yield iq(i, 'get', 'readout-malformed', xml('req', attrs, ...nodes, ...fields));
        break;
      }
      case 2:
        yield iq(i, pick(['get', 'set']), 'cancel', xml('cancel', { xmlns: NS.sensordata, seqnr: seqnr() }));
        break;
      case 3: {
        const many = r() < 0.1 ? o.maxParams : int(6);
        yield iq(
          i,
          'set',
          many > 100 ? 'set-many' : 'set',
          xml(
            'set',
            { xmlns: NS.control },
            ...(r() < 0.7 ? [xml('node', { nodeId: pick(NODES) })] : []),
            ...Array.from({ length: many }, (_, k) => param(many < 10 && k === 0 && r() < 0.2)),
          ),
        );
        break;
      }
      case 4:
        yield iq(
          i,
          'set',
          'set-form',
          xml(
            'set',
            { xmlns: NS.control },
            xml('node', { nodeId: 'serial' }),
            form(pick([NS.control, 'urn:bogus', undefined]), int(5)),
          ),
        );
        break;
      case 5:
        yield iq(
          i,
          'get',
          'getForm',
          xml('getForm', { xmlns: NS.control }, xml('node', { nodeId: pick(NODES) })),
        );
        break;
      case 6: {
        const node = `urn:xmpp-iot:command:${pick(['set', 'read', 'status', 'list', 'nope'])}`;
        const attrs: Record<string, string> = {
          xmlns: NS_COMMANDS,
          node,
          action: pick(['execute', 'next', 'complete', 'cancel', 'prev', 'x']),
        };
        if (r() < 0.5) attrs.sessionid = pick(['bogus', String(i)]);
        yield iq(
          i,
          'set',
          'adhoc',
          xml(
            'command',
            attrs,
            ...(r() < 0.6 ? [form(pick([NS.control, node, 'urn:bogus', undefined]), int(4))] : []),
          ),
        );
        break;
      }
      case 7:
        yield message(
          i,
          'chat',
          xml(
            'body',
            {},
            pick([
              'help',
              'status',
              'list',
              'read host load1',
              'set serial relay on',
              `set serial label ${text(int(3000))}`,
              text(int(5000)),
              '',
            ]),
          ),
          ...(r() < 0.2 ? [xml('thread', {}, text(int(2000)))] : []),
        );
        break;
      case 8:
        yield message(
          i,
          'control-message',
          xml('set', { xmlns: NS.control }, xml('node', { nodeId: 'serial' }), param()),
          xml('request', { xmlns: 'urn:xmpp:receipts' }),
        );
        break;
      case 9:
        yield iq(
          i,
          'get',
          'disco',
          xml('query', {
            xmlns: pick([NS.discoInfo, NS.discoItems]),
            ...(r() < 0.3 ? { node: pick([NS_COMMANDS, 'host', text(200)]) } : {}),
          }),
        );
        break;
      case 10:
        yield iq(
          i,
          pick(['get', 'set']),
          'unknown-ns',
          xml(pick(['query', 'x', 'req']), { xmlns: `urn:example:${int(100)}` }, text(int(1000))),
        );
        break;
      default:
        yield iq(i, 'get', 'ping', xml('ping', { xmlns: NS.ping }));
    }
  }
}

/** A system device and a line_serial device whose commands (boolean, int, string) make control reachable. */
export function hostileAgentYaml(o: {
  service: string;
  store: string;
  extra?: string;
  passwordEnv?: string;
}): string {
  return `xmpp:
  service: ${o.service}
  domain: localhost
  username: hall
  password: \${${o.passwordEnv ?? 'FUZZ_AGENT_PASSWORD'}}
  resource: agent
owners: [alice@localhost, carol@localhost]
store: ${o.store}
${o.extra ?? ''}
devices:
  - { id: host, type: system, interval: 1s }
  - id: serial
    type: line_serial
    port: /nonexistent/ttyFUZZ
    values: { temp: { type: numeric, unit: C } }
    commands:
      relay: { type: boolean, template: "RELAY {value}\\n" }
      level: { type: int, template: "LEVEL {value}\\n", min: 0, max: 100 }
      label: { type: string, template: "LABEL {value}\\n", maxLength: 32 }
`;
}

export function rssKiBOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

export interface FloodResult {
  sent: number;
  iqs: number;
  /** IQs without a reply when the flood ended (after `settleMs`). */
  unanswered: number;
  /** IQs answered more than once. */
  duplicates: number;
  peakRssKiB: number;
  startRssKiB: number;
  /** Owner readouts answered during the flood, in ms; failures counted apart. */
  probeMs: number[];
  probeFailures: string[];
  elapsedMs: number;
  /** Replies by kind and error condition, for the report. */
  replies: Record<string, number>;
}

/**
 * Sends `count` hostile stanzas split over `senders` (each with at most `window` IQs unanswered), while `prober`
 * reads the agent every `probeEveryMs`; samples the agent's RSS every 100 ms. Resolves once every IQ is answered
 * or `settleMs` after the last was sent.
 */
export async function hostileFlood(o: {
  agentPid: number;
  senders: Transport[];
  prober: ReturnType<typeof createSensorClient>;
  count: number;
  seed: number;
  stanzas: Omit<HostileOptions, 'to'> & { to: string };
  window?: number;
  probeEveryMs?: number;
  settleMs?: number;
  /** Called every 1,000 stanzas sent (progress on a long flood). */
  progress?: (sent: number, answered: number) => void;
}): Promise<FloodResult> {
  const window = o.window ?? 128;
  const startRssKiB = rssKiBOf(o.agentPid);
  let peakRssKiB = startRssKiB;
  const sampler = setInterval(() => {
    try {
      peakRssKiB = Math.max(peakRssKiB, rssKiBOf(o.agentPid));
    } catch {
      // the agent died: reported by the caller
    }
  }, 100);
  const owed = new Map<string, { kind: string; replies: number; done: () => void }>();
  const replies: Record<string, number> = {};
  let duplicates = 0;
  const listeners = o.senders.map((t) => {
    const listener = (s: Element) => {
      if (!s.is('iq') || (s.attrs.type !== 'result' && s.attrs.type !== 'error')) return;
      const entry = owed.get(s.attrs.id as string);
      if (!entry) return;
      entry.replies++;
      if (entry.replies > 1) duplicates++;
      else {
        const condition =
          s.attrs.type === 'error'
            ? (s
                .getChild('error')
                ?.getChildElements()
                .find((c) => c.attrs.xmlns === NS.stanzas && c.name !== 'text')?.name ?? 'error')
            : 'result';
        const key = `${entry.kind} ${condition}`;
        replies[key] = (replies[key] ?? 0) + 1;
        entry.done();
      }
    };
    t.on('stanza', listener);
    return listener;
  });
  const t0 = performance.now();
  const probeMs: number[] = [];
  const probeFailures: string[] = [];
  let flooding = true;
  const probing = (async () => {
    while (flooding) {
      const p0 = performance.now();
      try {
        await o.prober.readout(o.stanzas.to, { nodes: ['host'], types: ['momentary'], timeoutMs: 60_000 });
        probeMs.push(performance.now() - p0);
      } catch (err) {
        probeFailures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, o.probeEveryMs ?? 250));
    }
  })();
  let sent = 0;
  let iqs = 0;
  const all: Promise<void>[] = [];
  const perSender = o.senders.map(() => new Set<Promise<void>>());
  const generator = hostileStanzas(o.seed, o.count, o.stanzas, (i) => `fz${o.seed}-${i}`);
  for (const { stanza, iq, kind } of generator) {
    const s = sent % o.senders.length;
    const sender = o.senders[s] as Transport;
    const inFlight = perSender[s] as Set<Promise<void>>;
    while (inFlight.size >= window) await Promise.race(inFlight);
    if (iq) {
      iqs++;
      const answered = new Promise<void>((resolve) =>
        owed.set(stanza.attrs.id as string, { kind, replies: 0, done: resolve }),
      );
      inFlight.add(answered);
      void answered.then(() => inFlight.delete(answered));
      all.push(answered);
    }
    await sender.send(stanza);
    sent++;
    if (sent % 1000 === 0) o.progress?.(sent, iqs - [...owed.values()].filter((e) => e.replies === 0).length);
  }
  await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, o.settleMs ?? 30_000))]);
  const elapsedMs = performance.now() - t0;
  // Late duplicates would show within a moment.
  await new Promise((r) => setTimeout(r, 500));
  flooding = false;
  await probing;
  clearInterval(sampler);
  o.senders.forEach((t, i) => t.off('stanza', listeners[i] as (s: Element) => void));
  const unanswered = [...owed.values()].filter((e) => e.replies === 0).length;
  return {
    sent,
    iqs,
    unanswered,
    duplicates,
    peakRssKiB,
    startRssKiB,
    probeMs,
    probeFailures,
    elapsedMs,
    replies,
  };
}
