import { describe, expect, it } from 'vitest';
import { BitWriter } from '../src/bits.js';
import {
  decode,
  decodeEvents,
  type ExiAlignment,
  ExiError,
  type ExiEvent,
  type ExiOptions,
  ExiUnsupportedError,
  encode,
  parseXml,
  canonicalEvents,
  canonicalXml,
} from '../src/index.js';
import { rng } from './helpers.js';

const ALIGNMENTS: ExiAlignment[] = ['bit-packed', 'byte-alignment', 'pre-compression', 'compression'];

const STANZAS: Record<string, string> = {
  message: `<message xmlns='jabber:client' from='sensor@iot.example.org/probe' to='hub@example.org' type='chat' id='m1' xml:lang='en'><body>Temperature is 21.5 °C &amp; rising &lt;fast&gt;</body><thread>t-1</thread></message>`,
  presence: `<presence xmlns='jabber:client' from='probe7@iot.example.org/agent'><show>away</show><status>battery low 😴</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:xmpp:iot' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>`,
  iqSensorData: `<iq xmlns='jabber:client' type='result' id='r1' from='probe7@iot.example.org/agent' to='hub@example.org/core'><fields xmlns='urn:xmpp:iot:sensordata' seqnr='1' done='true'><node nodeId='probe7'><timestamp value='2026-11-24T08:00:00Z'><numeric name='Temperature' momentary='true' automaticReadout='true' value='21.5' unit='°C'/><numeric name='Humidity' momentary='true' automaticReadout='true' value='40' unit='%'/><numeric name='Temperature' momentary='true' automaticReadout='true' value='21.5' unit='°C'/><string name='Status' status='true' value='ok'/></timestamp></node></fields></iq>`,
  prefixed: `<stream:features xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms><x:data xmlns:x='jabber:x:data' x:type='form' type='plain'><stream:error/></x:data></stream:features>`,
  pubsub: `<iq type='set' id='pub1' xmlns='jabber:client'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='sensors/probe7'><item id='current'><entry xmlns='urn:example:entry'>   <v>1</v>
  <v>2</v> <empty/><![CDATA[<raw> & stuff]]></entry></item></publish></pubsub></iq>`,
  mixed: `<doc xmlns='urn:example:doc'><!-- hello --><p>The <b>quick</b> brown <?proc data?><i>fox</i>.</p><p/></doc>`,
};

function roundTripCanonical(xml: string, options: ExiOptions, outOfBand: boolean): void {
  const bytes = encode(xml, { ...options, includeOptions: !outOfBand });
  const decoded = decode(bytes, outOfBand ? options : undefined);
  const p = options.preserve ?? {};
  const expected = parseXml(xml).filter((e) => (e.type !== 'CM' || p.comments) && (e.type !== 'PI' || p.pis));
  expect(canonicalXml(decoded)).toEqual(canonicalEvents(expected));
}

describe('round trips of XMPP stanzas', () => {
  for (const alignment of ALIGNMENTS) {
    for (const [name, xml] of Object.entries(STANZAS)) {
      it(`${name} with ${alignment}`, () => {
        roundTripCanonical(xml, { alignment }, false);
        roundTripCanonical(xml, { alignment }, true);
        roundTripCanonical(xml, { alignment, preserve: { comments: true, pis: true } }, false);
        roundTripCanonical(xml, { alignment, valueMaxLength: 4, valuePartitionCapacity: 3 }, false);
      });

      it(`${name} with ${alignment} and preserved prefixes gives back the same events`, () => {
        const options: ExiOptions = { alignment, preserve: { prefixes: true, comments: true, pis: true } };
        const bytes = encode(xml, { ...options, includeOptions: true, includeCookie: true });
        expect(decodeEvents(bytes)).toEqual(parseXml(xml));
        // ... and XML text that re-parses to the same events, prefixes included
        expect(parseXml(decode(bytes))).toEqual(parseXml(xml));
      });
    }
  }

  it('is smaller than the XML text', () => {
    const xml = STANZAS.iqSensorData as string;
    expect(encode(xml).length).toBeLessThan(new TextEncoder().encode(xml).length * 0.7);
  });
});

// ---------------------------------------------------------------------------------------------
// Random documents

const NAMESPACES = ['', 'jabber:client', 'urn:xmpp:iot:sensordata', 'urn:example:a', 'urn:example:b'];
const PREFIXES = ['a', 'b', 'ns', 'x', 'stream'];
const NAMES = ['iq', 'item', 'field', 'value', 'node', 'x', 'très-long-name_with.dots', 'n'];
const VALUES = [
  '1',
  'true',
  'probe7@iot.example.org',
  '21.5',
  '',
  'a & b < c > d "e" \'f\'',
  '😀 ü ✓',
  ' spaced  out ',
];

function escapeXml(s: string, attr: boolean): string {
  let r = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  if (attr) r = r.replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
  return r;
}

function randomValue(r: () => number): string {
  const k = r();
  if (k < 0.6) return VALUES[Math.floor(r() * VALUES.length)] as string;
  if (k < 0.8) return `v${Math.floor(r() * 1000)}`;
  const len = 20 + Math.floor(r() * 300);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCodePoint(32 + Math.floor(r() * 200));
  return s.replace(/\r/g, ' ');
}

function randomDocument(seed: number): string {
  const r = rng(seed);
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)] as T;
  const element = (depth: number, scope: Map<string, string>): string => {
    const decls = new Map<string, string>();
    const inner = new Map(scope);
    // maybe declare namespaces here
    const nDecl = r() < 0.3 ? 1 + Math.floor(r() * 2) : 0;
    for (let i = 0; i < nDecl; i++) {
      const prefix = r() < 0.3 ? '' : pick(PREFIXES);
      const uri = pick(NAMESPACES);
      if (prefix !== '' && uri === '') continue;
      decls.set(prefix, uri);
      inner.set(prefix, uri);
    }
    const usable = [...inner.entries()].filter(([, u]) => u !== '' || true);
    const [prefix] = pick(usable);
    const name = prefix === '' ? pick(NAMES) : `${prefix}:${pick(NAMES)}`;
    let tag = `<${name}`;
    for (const [p, u] of decls) tag += ` ${p === '' ? 'xmlns' : `xmlns:${p}`}='${u}'`;
    const used = new Set<string>();
    const nAttr = Math.floor(r() * 4);
    for (let i = 0; i < nAttr; i++) {
      const prefixed = [...inner.entries()].filter(([p, u]) => p !== '' && u !== '');
      let an = pick(NAMES);
      if (prefixed.length > 0 && r() < 0.3) an = `${pick(prefixed)[0]}:${an}`;
      const expanded = an.includes(':') ? `${inner.get(an.split(':')[0] as string)} ${an.split(':')[1]}` : an;
      if (used.has(expanded)) continue;
      used.add(expanded);
      tag += ` ${an}='${escapeXml(randomValue(r), true)}'`;
    }
    if (depth > 4 || r() < 0.25) return `${tag}/>`;
    let body = '';
    const nChildren = Math.floor(r() * 5);
    for (let i = 0; i < nChildren; i++) {
      const k = r();
      if (k < 0.55) body += element(depth + 1, inner);
      else body += escapeXml(randomValue(r), false);
    }
    return `${tag}>${body}</${name}>`;
  };
  return element(0, new Map([['', '']]));
}

describe('round trips of random documents', () => {
  const configs: [string, ExiOptions][] = [
    ['defaults', {}],
    ['prefixes', { preserve: { prefixes: true } }],
    ['tiny value table', { valueMaxLength: 8, valuePartitionCapacity: 2 }],
    ['no value table', { valuePartitionCapacity: 0 }],
    ['blockSize 3', { blockSize: 3 }],
  ];
  for (const alignment of ALIGNMENTS) {
    for (const [label, options] of configs) {
      it(`${label}, ${alignment}`, () => {
        for (let seed = 1; seed <= 40; seed++) {
          const xml = randomDocument(seed * 7919 + alignment.length);
          const opts = { ...options, alignment };
          const bytes = encode(xml, { ...opts, includeOptions: seed % 2 === 0 });
          if (options.preserve?.prefixes) {
            expect(decodeEvents(bytes, opts)).toEqual(parseXml(xml));
          } else {
            expect(canonicalXml(decode(bytes, opts))).toEqual(canonicalXml(xml));
          }
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Blocks, channels and value tables

function manyValues(n: number): string {
  let items = '';
  for (let i = 0; i < n; i++)
    items += `<item id='i${i % 17}' k='${i % 3}'>${i % 5 === 0 ? 'same' : `value ${i}`}</item>`;
  return `<list xmlns='urn:example:list' count='${n}'>${items}<tail>end</tail></list>`;
}

describe('blocks and channels (§9)', () => {
  for (const alignment of ['pre-compression', 'compression'] as const) {
    for (const blockSize of [1, 2, 99, 100, 101, 250, 1_000_000]) {
      it(`${alignment}, blockSize ${blockSize}, channels above and below 100 values`, () => {
        const xml = manyValues(260);
        const bytes = encode(xml, { alignment, blockSize, includeOptions: true });
        expect(canonicalXml(decode(bytes))).toEqual(canonicalXml(xml));
      });
    }
  }

  it('compression shrinks repetitive documents well below pre-compression', () => {
    const xml = manyValues(300);
    const pre = encode(xml, { alignment: 'pre-compression' });
    const comp = encode(xml, { alignment: 'compression' });
    expect(comp.length).toBeLessThan(pre.length / 2);
  });

  it('value partitions honour capacity wrap-around and unassigned local ids', () => {
    const values = ['a', 'b', 'c', 'a', 'b', 'd', 'a', 'e', 'c', 'c', 'a'];
    const xml = `<r>${values.map((v, i) => `<x${i % 2} v='${v}'>${v}</x${i % 2}>`).join('')}</r>`;
    for (const alignment of ALIGNMENTS) {
      for (const valuePartitionCapacity of [0, 1, 2, 3, 5, 100]) {
        const opts = { alignment, valuePartitionCapacity, valueMaxLength: 1 };
        expect(canonicalXml(decode(encode(xml, opts), opts))).toEqual(canonicalXml(xml));
      }
    }
  });

  it('string table hits make repeated values cheap', () => {
    const one = encode(`<r><v>probe7@iot.example.org</v></r>`).length;
    const two = encode(`<r><v>probe7@iot.example.org</v><v>probe7@iot.example.org</v></r>`).length;
    expect(two - one).toBeLessThanOrEqual(3); // the literal alone is 25 bytes
  });
});

describe('fragments, events and fidelity options', () => {
  it('encodes and decodes fragments', () => {
    const xml = `<a xmlns='urn:x'>1</a><!-- c --><b/><a xmlns='urn:x'>2</a>`;
    for (const alignment of ALIGNMENTS) {
      const opts: ExiOptions = { alignment, fragment: true, preserve: { comments: true } };
      const bytes = encode(xml, { ...opts, includeOptions: true });
      const events = decodeEvents(bytes);
      expect(events.filter((e) => e.type === 'SE').map((e) => (e.type === 'SE' ? e.localName : ''))).toEqual([
        'a',
        'b',
        'a',
      ]);
      expect(canonicalXml(`<w>${decode(bytes)}</w>`)).toEqual(canonicalXml(`<w>${xml}</w>`));
    }
    expect(() => encode('text<a/>', { fragment: true })).toThrow(/fragment/);
  });

  it('accepts event lists and fills in SD/ED', () => {
    const events: ExiEvent[] = [
      { type: 'SE', uri: 'urn:a', localName: 'r' },
      { type: 'AT', uri: '', localName: 'id', value: '7' },
      { type: 'CH', value: 'x' },
      { type: 'EE' },
    ];
    expect(decodeEvents(encode(events))).toEqual([{ type: 'SD' }, ...events, { type: 'ED' }]);
  });

  it('drops comments and PIs unless preserved, merging the text around them', () => {
    const xml = `<n>before<!-- c -->after<?pi x?>end</n>`;
    expect(decode(encode(xml))).toBe('<n xmlns="">beforeafterend</n>'.replace(' xmlns=""', ''));
    expect(
      decode(encode(xml, { preserve: { comments: true, pis: true } }), {
        preserve: { comments: true, pis: true },
      }),
    ).toBe(xml.replace(/'/g, '"'));
  });

  it('can drop ignorable whitespace like a SAX-based encoder', () => {
    const xml = `<r>\n  <a>   </a>\n  <b xml:space='preserve'> <c/> </b>\n</r>`;
    const decoded = decode(encode(xml, { dropIgnorableWhitespace: true }));
    expect(decoded).toBe(`<r><a>   </a><b xml:space="preserve"> <c/> </b></r>`);
    expect(decode(encode(xml))).toBe(xml.replace(/'/g, '"'));
  });

  it('rejects malformed event sequences', () => {
    expect(() => encode([{ type: 'EE' }])).toThrow(ExiError);
    expect(() => encode([{ type: 'SE', uri: '', localName: 'a' }])).toThrow(ExiError);
    expect(() => encode([{ type: 'CH', value: 'x' }])).toThrow(/outside/);
    expect(() =>
      encode([
        { type: 'SE', uri: '', localName: 'a' },
        { type: 'EE' },
        { type: 'SE', uri: '', localName: 'b' },
        { type: 'EE' },
      ]),
    ).toThrow(/second root/);
  });
});

describe('unsupported features fail loudly', () => {
  it('DTDs in XML input', () => {
    expect(() => encode('<!DOCTYPE a><a/>')).toThrow(ExiUnsupportedError);
  });

  it('xsi:type / xsi:nil attributes (typed in EXI even without a schema)', () => {
    const xml = `<a xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:type='foo'/>`;
    expect(() => encode(xml)).toThrow(ExiUnsupportedError);
  });

  it('DT, ER and SC events in a stream', () => {
    // preserve.dtd: DocContent is SE(*)=0, DT=1.0 (1 bit + 0 bits) -> a DT event
    const dtd = Uint8Array.of(0b1000_0000, 0b1000_0000);
    expect(() => decode(dtd, { preserve: { dtd: true } })).toThrow(/DTD events/);
    // selfContained: SE(*) {""}a, then StartTagContent 0.2 = SC (EE, AT(*), SC, SE(*), CH)
    const w = new BitWriter();
    w.writeBits(0x80, 8); // header
    w.writeBits(0b01, 2); // uri "" (hit, id 0 + 1)
    w.writeUnsigned(2); // local-name miss, length 1
    w.writeUnsigned(0x61);
    w.writeBits(0b010, 3); // SC
    expect(() => decodeEvents(w.toBytes(), { selfContained: true })).toThrow(/self-contained/);
    // the same grammar without an SC event decodes fine
    const plain = encode('<a/>', { selfContained: true });
    expect(decodeEvents(plain, { selfContained: true })).toEqual([
      { type: 'SD' },
      { type: 'SE', uri: '', localName: 'a' },
      { type: 'EE' },
      { type: 'ED' },
    ]);
  });

  it('truncated and corrupted streams', () => {
    const bytes = encode(STANZAS.message as string);
    expect(() => decode(bytes.subarray(0, bytes.length - 10))).toThrow(ExiError);
    expect(() => decode(bytes.subarray(0, 5))).toThrow(expect.objectContaining({ code: 'IOT_ERR_EXI' }));
    const comp = encode(STANZAS.message as string, { compression: true, includeOptions: true });
    const broken = comp.slice();
    broken.fill(0xff, 2, 12);
    expect(() => decode(broken)).toThrow(ExiError);
  });
});
