/**
 * EXI sessions (XEP-0322 sessionWideBuffers): string tables and learned built-in grammars carried from one body
 * to the next. Many stanzas go through an encoder session and a decoder session; every body must decode to what
 * the stateless codec gives for the same document, in every alignment, schema-less and schema-informed.
 */
import { describe, expect, it } from 'vitest';
import {
  createExiSession,
  decode,
  decodeBody,
  decodeEvents,
  type ExiAlignment,
  type ExiOptions,
  ExiUnsupportedError,
  encode,
  iotSchema,
  serializeXml,
  canonicalXml,
} from '../src/index.js';
import { rng } from './helpers.js';

const SD = 'urn:xmpp:iot:sensordata';
const ALIGNMENTS: ExiAlignment[] = ['bit-packed', 'byte-alignment', 'pre-compression', 'compression'];
const sd = iotSchema('xep-0323.xsd');

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

const JIDS = [
  'probe7@iot.example.org/agent',
  'hub@example.org/core',
  'alice@example.org',
  'pubsub.example.org',
];
const WORDS = ['load1', 'Temperature', '°C', 'µg/m³', '', 'a & b', 'émoji 😀', 'true', '21.5', '42'];

/**
 * A random XMPP-like stanza: repeated names and values (JIDs, field names), namespaces (default and prefixed),
 * text, nested elements, and random one-off values (ids, numbers) so that the tables keep growing.
 */
function randomStanza(r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number) => r() < p;
  const value = () => (chance(0.6) ? pick(WORDS) : chance(0.5) ? pick(JIDS) : `v${Math.floor(r() * 500)}`);
  const child = (depth: number): string => {
    const ns = chance(0.2) ? ` xmlns='${pick(['urn:example:a', 'urn:example:b', SD])}'` : '';
    const name = pick(['item', 'field', 'node', 'value', 'x', 'numeric', 'timestamp']);
    let attrs = '';
    const used = new Set<string>();
    for (let i = Math.floor(r() * 4); i > 0; i--) {
      const a = pick(['name', 'value', 'unit', 'id', 'nodeId', 'p:ref', 'momentary']);
      if (used.has(a)) continue;
      used.add(a);
      attrs += ` ${a}='${esc(value())}'`;
    }
    if (used.has('p:ref')) attrs += ` xmlns:p='urn:example:p'`;
    if (depth > 3 || chance(0.3)) return `<${name}${ns}${attrs}/>`;
    let body = '';
    for (let i = Math.floor(r() * 4); i > 0; i--) body += chance(0.7) ? child(depth + 1) : esc(value());
    return `<${name}${ns}${attrs}>${body}</${name}>`;
  };
  const kind = pick(['message', 'iq', 'presence']);
  let body = '';
  for (let i = Math.floor(r() * 3); i > 0; i--) body += child(0);
  return (
    `<${kind} xmlns='jabber:client' from='${pick(JIDS)}' to='${pick(JIDS)}' id='s${Math.floor(r() * 10000)}'>` +
    `${body}</${kind}>`
  );
}

/** A random XEP-0323 stanza with canonical typed values, sometimes with undeclared parts. */
function randomSensorStanza(r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number) => r() < p;
  const field = () => {
    const type = pick(['numeric', 'boolean', 'string', 'int']);
    const value =
      type === 'numeric'
        ? pick(['215E-1', '0E0', '-5E-1', `${1 + Math.floor(r() * 99) * 10}E-2`])
        : type === 'boolean'
          ? pick(['true', 'false'])
          : type === 'int'
            ? String(Math.floor(r() * 100))
            : pick(WORDS);
    const unit = type === 'numeric' ? ` unit='${esc(pick(['°C', '%', 'hPa']))}'` : '';
    const extra = chance(0.1) ? ` extra='${esc(pick(WORDS))}'` : '';
    return `<${type} automaticReadout='true' momentary='true' name='${esc(pick(WORDS))}'${unit} value='${esc(value)}'${extra}/>`;
  };
  const kind = r();
  if (kind < 0.3)
    return `<iq xmlns='jabber:client' type='result' id='r${Math.floor(r() * 99)}' to='${pick(JIDS)}'><accepted xmlns='${SD}' seqnr='${Math.floor(r() * 50)}'/></iq>`;
  let ts = '';
  for (let i = 1 + Math.floor(r() * 2); i > 0; i--) {
    let fields = '';
    for (let j = Math.floor(r() * 4); j > 0; j--) fields += field();
    ts += `<timestamp value='2026-03-01T10:${10 + Math.floor(r() * 50)}:00Z'>${fields}</timestamp>`;
  }
  const payload = `<fields xmlns='${SD}' seqnr='${Math.floor(r() * 50)}' done='true'><node nodeId='${esc(pick(WORDS))}'>${ts}</node></fields>`;
  if (kind < 0.7)
    return `<message xmlns='jabber:client' from='${pick(JIDS)}' to='${pick(JIDS)}'>${payload}</message>`;
  return (
    `<message xmlns='jabber:client' from='pubsub.example.org' to='${pick(JIDS)}'>` +
    `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='${SD}'><item id='${pick(['host', 'probe'])}'>` +
    `${payload}</item></items></event></message>`
  );
}

/** Runs `docs` through an encoder session and a decoder session; checks each body against the stateless codec. */
function roundTrip(docs: readonly string[], options: ExiOptions): Uint8Array[] {
  const enc = createExiSession(options);
  const dec = createExiSession(options);
  const bodies: Uint8Array[] = [];
  for (const doc of docs) {
    const body = enc.encode(doc);
    bodies.push(body);
    const xml = dec.decode(body);
    expect(xml, doc).toBe(decode(encode(doc, options), options));
  }
  expect(enc.bodies).toBe(docs.length);
  expect(dec.bodies).toBe(docs.length);
  return bodies;
}

describe('EXI sessions: round trips of many stanzas', () => {
  const variants: [string, ExiOptions][] = [
    ['defaults', {}],
    ['blockSize 3', { blockSize: 3 }],
    ['valueMaxLength 8, valuePartitionCapacity 5', { valueMaxLength: 8, valuePartitionCapacity: 5 }],
    ['no value table', { valuePartitionCapacity: 0 }],
    ['comments and PIs preserved', { preserve: { comments: true, pis: true } }],
    ['no local value partitions (XEP-0322 default)', { localValuePartitions: false }],
    [
      'no local value partitions, valuePartitionCapacity 5',
      { localValuePartitions: false, valuePartitionCapacity: 5, valueMaxLength: 8 },
    ],
  ];
  for (const alignment of ALIGNMENTS) {
    for (const [label, extra] of variants) {
      it(`schema-less, ${alignment}, ${label}: 80 random stanzas`, () => {
        const r = rng(alignment.length * 101 + label.length);
        const docs = Array.from({ length: 80 }, () => randomStanza(r));
        roundTrip(docs, { alignment, ...extra });
      });
    }
    it(`schema-less with prefixes preserved, ${alignment}: events come back exactly`, () => {
      const r = rng(7 + alignment.length);
      const options: ExiOptions = { alignment, preserve: { prefixes: true } };
      const enc = createExiSession(options);
      const dec = createExiSession(options);
      for (let i = 0; i < 60; i++) {
        const doc = randomStanza(r);
        expect(dec.decodeEvents(enc.encode(doc))).toEqual(
          createExiSession(options).decodeEvents(createExiSession(options).encode(doc)),
        );
      }
    });
    for (const blockSize of [undefined, 4]) {
      it(`schema-informed (xep-0323.xsd), ${alignment}${blockSize ? `, blockSize ${blockSize}` : ''}: 80 random stanzas`, () => {
        const r = rng(alignment.length * 13 + (blockSize ?? 0));
        const docs = Array.from({ length: 80 }, () => randomSensorStanza(r));
        const options: ExiOptions = { schema: sd, alignment, ...(blockSize ? { blockSize } : {}) };
        roundTrip(docs, options);
        // the typed values are canonical, so the documents come back as they were
        const enc = createExiSession(options);
        const dec = createExiSession(options);
        for (const doc of docs)
          expect(canonicalXml(dec.decode(enc.encode(doc))), doc).toEqual(canonicalXml(doc));
      });
    }
  }

  it('schema-informed with a schemaId resolved through `schemas`', () => {
    const options: ExiOptions = { schemaId: 'xep-0323.xsd', schemas: { 'xep-0323.xsd': sd } };
    const r = rng(99);
    roundTrip(
      Array.from({ length: 30 }, () => randomSensorStanza(r)),
      options,
    );
  });

  it('fragments: the fragment grammar keeps what it learned', () => {
    const options: ExiOptions = { fragment: true };
    const enc = createExiSession(options);
    const dec = createExiSession(options);
    const frag = `<a x='1'/><b>t</b><a x='2'/>`;
    const first = enc.encode(frag);
    const second = enc.encode(frag);
    expect(second.length).toBeLessThan(first.length);
    expect(canonicalXml(`<r>${dec.decode(first)}</r>`)).toEqual(canonicalXml(`<r>${frag}</r>`));
    expect(canonicalXml(`<r>${dec.decode(second)}</r>`)).toEqual(canonicalXml(`<r>${frag}</r>`));
  });
});

const READING =
  `<message xmlns='jabber:client' from='probe7@iot.example.org/agent' to='hub@example.org/core'>` +
  `<fields xmlns='${SD}' seqnr='1' done='true'><node nodeId='probe7'><timestamp value='2026-03-01T10:15:00.000Z'>` +
  `<numeric name='Temperature' momentary='true' automaticReadout='true' value='21.5' unit='°C'/>` +
  `<numeric name='Humidity' momentary='true' automaticReadout='true' value='43.2' unit='%'/>` +
  `</timestamp></node></fields></message>`;

describe('EXI sessions: what is shared', () => {
  for (const [label, options] of [
    ['schema-less', {}],
    ['schema-informed', { schema: sd }],
  ] as [string, ExiOptions][]) {
    for (const alignment of ALIGNMENTS) {
      it(`${label}, ${alignment}: the second identical stanza is much smaller than the first`, () => {
        const enc = createExiSession({ ...options, alignment });
        const first = enc.encode(READING);
        const second = enc.encode(READING);
        const stateless = encode(READING, { ...options, alignment }).length;
        // bit-packed: the first body is the stateless stream without its one-byte header
        if (alignment === 'bit-packed') expect(first.length).toBe(stateless - 1);
        expect(second.length, `${first.length} → ${second.length}`).toBeLessThan(first.length * 0.4);
        const dec = createExiSession({ ...options, alignment });
        expect(dec.decode(first)).toBe(dec.decode(second));
      });
    }
  }

  it('a decoder without the session cannot decode the second body', () => {
    for (const options of [{}, { schema: sd }] as ExiOptions[]) {
      const enc = createExiSession(options);
      enc.encode(READING);
      const second = enc.encode(READING);
      let fresh: string | undefined;
      try {
        fresh = createExiSession(options).decode(second);
      } catch {
        fresh = undefined; // the usual outcome: codes and ids that a fresh state does not have
      }
      expect(fresh === undefined || canonicalXml(fresh) !== canonicalXml(READING)).toBe(true);
      let stateless: string | undefined;
      try {
        const res = decodeBody(second, options);
        stateless = res && JSON.stringify(res.events);
      } catch {
        stateless = undefined;
      }
      expect(stateless).not.toBe(JSON.stringify(decodeEvents(encode(READING, options), options)));
    }
  });

  it('valuePartitionCapacity wraps around across bodies', () => {
    const options: ExiOptions = { valuePartitionCapacity: 4 };
    const enc = createExiSession(options);
    const dec = createExiSession(options);
    const values = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    const sizes: number[] = [];
    for (let i = 0; i < 40; i++) {
      // values come back after they were evicted, and while they are still in the table
      const v = values[(i * 5) % values.length] as string;
      const w = values[(i * 3) % values.length] as string;
      const doc = `<r a='${v}' b='${w}'><c>${v}</c><c>${i % 7 === 0 ? 'new' + i : w}</c></r>`;
      const body = enc.encode(doc);
      sizes.push(body.length);
      expect(canonicalXml(dec.decode(body)), `body ${i}`).toEqual(canonicalXml(doc));
    }
    // a repeated document is cheaper than its first appearance
    expect(Math.min(...sizes.slice(10))).toBeLessThan(sizes[0] as number);
  });

  it('valuePartitionCapacity wrap-around in every alignment, schema-less and schema-informed', () => {
    for (const alignment of ALIGNMENTS) {
      const r = rng(alignment.length);
      roundTrip(
        Array.from({ length: 50 }, () => randomStanza(r)),
        { alignment, valuePartitionCapacity: 7, valueMaxLength: 12 },
      );
      roundTrip(
        Array.from({ length: 50 }, () => randomSensorStanza(r)),
        { alignment, schema: sd, valuePartitionCapacity: 3 },
      );
      roundTrip(
        Array.from({ length: 50 }, () => randomSensorStanza(r)),
        { alignment, schema: sd, valuePartitionCapacity: 3, localValuePartitions: false },
      );
    }
  });

  it('without local value partitions, value memory stays within valuePartitionCapacity', () => {
    const capacity = 16;
    const withLocal = createExiSession({ valuePartitionCapacity: capacity });
    const withoutLocal = createExiSession({ valuePartitionCapacity: capacity, localValuePartitions: false });
    const dec = createExiSession({ valuePartitionCapacity: capacity, localValuePartitions: false });
    for (let i = 0; i < 500; i++) {
      // a reading with a new timestamp and value each time, as a publishing agent sends
      const doc = `<m to='owner@example.org/phone'><v t='2026-11-24T10:${i}' v='${i * 7}'>node${i % 3}</v></m>`;
      withLocal.encode(doc);
      expect(canonicalXml(dec.decode(withoutLocal.encode(doc))), `body ${i}`).toEqual(canonicalXml(doc));
    }
    const grown = withLocal.valueCounts();
    const bounded = withoutLocal.valueCounts();
    // EXI 1.0: evicted values keep their local slots, one per value ever seen
    expect(grown.global).toBe(capacity);
    expect(grown.localSlots).toBeGreaterThan(1000);
    expect(bounded).toEqual({ global: capacity, localSlots: 0 });
    expect(dec.valueCounts()).toEqual(bounded);
  });

  it('without local value partitions a repeated value is a global hit, and a local hit is refused', () => {
    const options: ExiOptions = { localValuePartitions: false };
    const doc = `<r a='same'><c>same</c></r>`;
    // the value repeats under the same qualified name: EXI 1.0 codes it as a local hit, the profile as a global one
    const local = encode(`<r a='x' b='y'><c>v</c><c>v</c></r>`);
    expect(() => decode(local, options)).toThrow(/local value/);
    const enc = createExiSession(options);
    const dec = createExiSession(options);
    for (let i = 0; i < 3; i++) expect(canonicalXml(dec.decode(enc.encode(doc)))).toEqual(canonicalXml(doc));
  });

  it('localValuePartitions=false is not written into a header', () => {
    expect(() => encode('<r/>', { localValuePartitions: false, includeOptions: true })).toThrow(
      /localValuePartitions/,
    );
  });
});

describe('EXI sessions: failed bodies change nothing', () => {
  for (const alignment of ALIGNMENTS) {
    for (const [label, options] of [
      ['schema-less', { alignment, valuePartitionCapacity: 6 }],
      ['schema-informed', { alignment, schema: sd, valuePartitionCapacity: 6 }],
    ] as [string, ExiOptions][]) {
      it(`${label}, ${alignment}: every truncated prefix of a body is undefined, then the body decodes`, () => {
        const r = rng(5);
        const enc = createExiSession(options);
        const dec = createExiSession(options);
        for (let i = 0; i < 25; i++) {
          const doc = label === 'schema-less' ? randomStanza(r) : randomSensorStanza(r);
          const body = enc.encode(doc);
          // a byte stream: this body, then the start of the next one (decodeBody must stop at the body's end)
          const stream = new Uint8Array(body.length + 3);
          stream.set(body);
          for (let cut = 0; cut < body.length; cut++) {
            expect(dec.decodeBody(body.subarray(0, cut)), `body ${i}, ${cut} bytes`).toBeUndefined();
          }
          const res = dec.decodeBody(stream);
          expect(res?.size).toBe(body.length);
          expect(serializeXml(res?.events ?? []), doc).toBe(decode(encode(doc, options), options));
        }
        expect(dec.bodies).toBe(25);
      });
    }
  }

  it('compression: decodeBody finds the end of the body after its DEFLATE streams', () => {
    for (const blockSize of [undefined, 3]) {
      const options: ExiOptions = { alignment: 'compression', ...(blockSize ? { blockSize } : {}) };
      const enc = createExiSession(options);
      const dec = createExiSession(options);
      const r = rng(11);
      let stream = new Uint8Array(0);
      const docs = Array.from({ length: 20 }, () => randomStanza(r));
      for (const doc of docs) {
        const body = enc.encode(doc);
        const joined = new Uint8Array(stream.length + body.length);
        joined.set(stream);
        joined.set(body, stream.length);
        stream = joined;
      }
      for (const doc of docs) {
        const res = dec.decodeBody(stream);
        expect(serializeXml(res?.events ?? []), doc).toBe(decode(encode(doc, options), options));
        stream = stream.subarray(res?.size);
      }
      expect(stream.length).toBe(0);
    }
  });

  it('an encoder error leaves the encoder in step with its decoder', () => {
    const enc = createExiSession({});
    const dec = createExiSession({});
    expect(dec.decode(enc.encode(READING))).toBe(decode(encode(READING)));
    // new names and values first, then something the schema-less coder refuses
    const bad = `<x xmlns='urn:new' fresh='value'><y/><z xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:nil='true'/></x>`;
    expect(() => enc.encode(bad)).toThrow(ExiUnsupportedError);
    const after = `<x xmlns='urn:new' fresh='value'><y/></x>`;
    expect(canonicalXml(dec.decode(enc.encode(after)))).toEqual(canonicalXml(after));
    expect(canonicalXml(dec.decode(enc.encode(READING)))).toEqual(canonicalXml(READING));
    expect(enc.bodies).toBe(3);
  });

  it('a session is an encoder or a decoder, and reset starts afresh', () => {
    const s = createExiSession({});
    const body = s.encode(READING);
    expect(() => s.decode(body)).toThrow(/one session per direction/);
    s.reset();
    expect(s.bodies).toBe(0);
    expect(s.decode(body)).toBe(decode(encode(READING)));
    s.reset();
    expect(() => s.decode(new Uint8Array([...body, 0]))).toThrow(/after the EXI body/);
  });
});
