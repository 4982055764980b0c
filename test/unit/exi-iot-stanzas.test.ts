/**
 * Schema-informed EXI (the exi4js package) with the agent's own XEP-0323 stanzas, built with the same helpers the
 * agent uses: round trips, deviations from the schema (strict=false), sizes, and the cases that must fail with
 * ExiUnsupportedError. The codec's own schema tests are in packages/exi4js/test/schema.test.ts.
 */
import { deflateRawSync } from 'node:zlib';
import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import {
  canonicalXml,
  compileXsd,
  decode,
  decodeStream,
  type ExiOptions,
  ExiUnsupportedError,
  encode,
  iotSchema,
  iotSchemas,
} from 'exi4js';
import { fieldsElement, nodeElement, readoutRequestElement } from '../../src/iot/sensordata.js';
import type { Field } from '../../src/model/fields.js';
import { MOMENTARY, oneOfEachType } from '../helpers/fields.js';

const sd = iotSchema('xep-0323.xsd');
const SD = 'urn:xmpp:iot:sensordata';

const base = MOMENTARY;
const at = new Date('2026-03-01T10:15:00.000Z');
// The date-time field writable too: an attribute the schema declares.
const allTypes: Field[] = oneOfEachType(at).map((f) => (f.name === 'DT' ? { ...f, writable: true } : f));

function message(payload: ReturnType<typeof xml>, id = 'm1'): string {
  return xml(
    'message',
    { xmlns: 'jabber:client', from: 'probe7@iot.example.org/agent', to: 'hub@example.org/core', id },
    payload,
  ).toString();
}

const fieldsMessage = message(
  fieldsElement(42, true, [nodeElement('probe7', [{ timestamp: at.getTime(), fields: allTypes }])]),
);

/** Encodes schema-informed and decodes again (the schema found through the header's schemaId). */
function roundTrip(source: string, opts: ExiOptions = {}): string {
  const bytes = encode(source, { schema: sd, includeOptions: true, ...opts });
  return decode(bytes, { schemas: iotSchemas() });
}

describe('schema-informed EXI: XEP-0323 stanzas', () => {
  it('round-trips a fields message with all ten value types; typed values come back canonical', () => {
    const out = roundTrip(fieldsMessage);
    const expected = fieldsMessage
      .replace('value="21.50"', 'value="215E-1"')
      .replace('value="3" unit=""', 'value="3E0" unit=""')
      .replace('value="10:15:00.000Z"', 'value="10:15:00Z"')
      .replace(/value="2026-03-01T10:15:00.000Z"/g, 'value="2026-03-01T10:15:00Z"');
    expect(expected).not.toBe(fieldsMessage);
    expect(canonicalXml(out)).toEqual(canonicalXml(expected));
    // lexical forms that are already canonical survive unchanged
    for (const v of ['-7', '9007199254740993', 'false', 'ok', 'High', '2026-03-01', 'PT1H2M5S']) {
      expect(out).toContain(`value="${v}"`);
    }
  });

  it('round-trips req (nodes, fields, period, flags), accepted, started, done, cancel, cancelled', () => {
    const docs = [
      xml(
        'iq',
        { xmlns: 'jabber:client', type: 'get', id: 'r1', to: 'probe7@iot.example.org/agent' },
        readoutRequestElement({
          seqnr: 7,
          types: ['momentary', 'historicalDay'],
          nodes: ['gpio17', 'gpio18'],
          fields: ['Temperature'],
          from: new Date('2026-01-01T00:00:00Z'),
          to: new Date('2026-01-02T00:00:00Z'),
        }),
      ).toString(),
      xml(
        'iq',
        { xmlns: 'jabber:client', type: 'get', id: 'r2' },
        readoutRequestElement({ seqnr: 8, types: 'all', when: new Date('2026-01-01T12:00:00Z') }),
      ).toString(),
      `<iq xmlns='jabber:client' type='result' id='r1'><accepted xmlns='${SD}' seqnr='7' queued='true'/></iq>`,
      `<message xmlns='jabber:client'><started xmlns='${SD}' seqnr='7'/></message>`,
      `<message xmlns='jabber:client'><done xmlns='${SD}' seqnr='7'/></message>`,
      `<iq xmlns='jabber:client' type='get' id='c'><cancel xmlns='${SD}' seqnr='7'/></iq>`,
      `<iq xmlns='jabber:client' type='result' id='c'><cancelled xmlns='${SD}' seqnr='7'/></iq>`,
    ];
    for (const doc of docs) {
      expect(canonicalXml(roundTrip(doc)), doc).toEqual(
        canonicalXml(doc.replace(/(\d\d:\d\d:\d\d)\.000Z/g, '$1Z')),
      );
    }
  });

  it('round-trips failure with error elements (simple content), including an empty error', () => {
    const doc = message(
      xml(
        'failure',
        { xmlns: SD, seqnr: '9', done: 'true' },
        xml('error', { nodeId: 'gpio17', timestamp: '2026-03-01T10:15:00.000Z' }, 'Sensor not responding'),
        xml(
          'error',
          { nodeId: '', timestamp: '2026-03-01T10:15:01.000Z', sourceId: 'bus' },
          'Timeout <5 s> & more',
        ),
        xml('error', { nodeId: 'x', timestamp: 't' }),
      ),
    );
    expect(canonicalXml(roundTrip(doc))).toEqual(canonicalXml(doc));
  });

  it('is a root element too (global element grammar at document level)', () => {
    const doc = xml(
      'fields',
      { xmlns: SD, seqnr: '1' },
      nodeElement('n', [{ timestamp: 0, fields: allTypes.slice(2, 6) }]),
    ).toString();
    expect(canonicalXml(roundTrip(doc))).toEqual(canonicalXml(doc.replace('00.000Z', '00Z')));
  });

  it('encodes schema-invalid values untyped (AT[untyped value], CH[untyped value])', () => {
    for (const doc of [
      fieldsMessage.replace('value="21.50"', 'value="warm"'),
      fieldsMessage.replace('seqnr="42"', 'seqnr="4.2"'),
      fieldsMessage.replace('value="false"', 'value="nope"'),
      fieldsMessage.replace('value="2026-03-01"', 'value="March"'),
      `<fields xmlns='${SD}' seqnr='x' done='maybe'/>`,
    ]) {
      expect(canonicalXml(roundTrip(doc)), doc).toEqual(canonicalXml(roundTrip(roundTrip(doc))));
      expect(roundTrip(doc)).toContain(
        doc.match(/(?:value|seqnr)=["'](warm|4\.2|nope|March|x)["']/)?.[1] ?? '',
      );
    }
    const bad = `<fields xmlns='${SD}' seqnr='x' done='maybe'/>`;
    expect(canonicalXml(roundTrip(bad))).toEqual(canonicalXml(bad));
  });

  it('binary values (not implemented as Binary) are encoded untyped', () => {
    const schema = compileXsd(
      `<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='urn:b'>` +
        `<xs:element name='v'><xs:complexType><xs:simpleContent><xs:extension base='xs:base64Binary'>` +
        `<xs:attribute name='h' type='xs:hexBinary'/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:schema>`,
      'b',
    );
    const doc = `<v xmlns='urn:b' h='00ff'>AAEC</v>`;
    expect(canonicalXml(decode(encode(doc, { schema }), { schema }))).toEqual(canonicalXml(doc));
  });

  it('xsi:nil: "true" switches to the TypeEmpty grammar, "false" is left out', () => {
    const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
    const nilTrue = `<failure xmlns='${SD}' xmlns:xsi='${XSI}' seqnr='1' xsi:nil='true'/>`;
    expect(canonicalXml(roundTrip(nilTrue))).toEqual(canonicalXml(nilTrue));
    const withContent = `<req xmlns='${SD}' xmlns:xsi='${XSI}' xsi:nil='1' seqnr='2'><node nodeId='n'/></req>`;
    expect(canonicalXml(roundTrip(withContent))).toEqual(canonicalXml(withContent.replace("'1'", "'true'")));
    const nilFalse = `<done xmlns='${SD}' xmlns:xsi='${XSI}' xsi:nil='false' seqnr='3'/>`;
    expect(canonicalXml(roundTrip(nilFalse))).toEqual(canonicalXml(`<done xmlns='${SD}' seqnr='3'/>`));
    const odd = `<done xmlns='${SD}' xmlns:xsi='${XSI}' xsi:nil='perhaps' seqnr='4'/>`;
    expect(canonicalXml(roundTrip(odd))).toEqual(canonicalXml(odd));
  });

  it('xsi:type: the QName goes to the structure channel and the element continues with that type', () => {
    const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
    const XS = 'http://www.w3.org/2001/XMLSchema';
    const cast =
      `<fields xmlns='${SD}' xmlns:xsi='${XSI}' xmlns:sd='${SD}' seqnr='1'><node nodeId='a'><timestamp value='2026-01-01T00:00:00Z'>` +
      `<int xsi:type='sd:numeric' name='n' value='21.50' unit='u'/></timestamp></node></fields>`;
    for (const alignment of ['bit-packed', 'compression'] as const) {
      const out = roundTrip(cast, { alignment });
      expect(out).toContain('value="215E-1"'); // typed as xs:double, the type of numeric/@value
      const prefix = /xmlns:(xt\d+)="urn:xmpp:iot:sensordata"/.exec(out)?.[1];
      expect(out).toContain(`type="${prefix}:numeric"`);
      expect(roundTrip(out, { alignment })).toBe(out);
    }
    // undeclared element cast to a built-in type; xs:anyType; an unknown type; an unbound prefix
    const docs = [
      `<message xmlns='jabber:client' xmlns:xsi='${XSI}' xmlns:xs='${XS}' xsi:type='xs:int' id='1'>0042</message>`,
      `<message xmlns='jabber:client' xmlns:xsi='${XSI}' xmlns:xs='${XS}' xsi:type='xs:anyType' id='2'><a b='c'>t</a></message>`,
      `<accepted xmlns='${SD}' xmlns:xsi='${XSI}' xmlns:sd='${SD}' xsi:type='sd:nothing' seqnr='3'/>`,
      `<accepted xmlns='${SD}' xmlns:xsi='${XSI}' xsi:type='foo:bar' seqnr='4'/>`,
    ];
    const expected = ['type="xt1:int"', 'type="xt1:anyType"', 'type="xt1:nothing"', 'type="foo:bar"'];
    docs.forEach((doc, i) => {
      const out = roundTrip(doc);
      expect(out, doc).toContain(expected[i] as string);
      const norm = (x: string) => x.replace(/:type=(["'])(xs|sd|xt1):/, ':type=$1p:');
      expect(canonicalXml(norm(out)), doc).toEqual(canonicalXml(norm(doc).replace('0042', '42')));
    });
  });

  it('handles what the schema does not declare (strict=false deviations)', () => {
    const docs = [
      // undeclared attribute, attributes in arbitrary order, missing required attribute (unit)
      `<fields xmlns='${SD}' seqnr='1'><node nodeId='a'><timestamp value='2026-01-01T00:00:00Z'>` +
        `<numeric zzz='1' value='1E0' name='x' aaa='2'/><int name='i' value='1' momentary='true' extra='e'/>` +
        `</timestamp></node></fields>`,
      // undeclared elements inside declared ones, and declared ones inside undeclared ones
      `<fields xmlns='${SD}' seqnr='2'><node nodeId='a'><foo xmlns='urn:other' a='b'><fields xmlns='${SD}' seqnr='3'/>` +
        `</foo><timestamp value='2026-01-01T00:00:00Z'><bar/><string name='s' value='v'/></timestamp></node>` +
        `<unknown/></fields>`,
      // character data where the schema has element-only or empty content
      `<fields xmlns='${SD}' seqnr='4'>text<node nodeId='a'>more text</node></fields>`,
      `<accepted xmlns='${SD}' seqnr='5'>text</accepted>`,
      // a declared element out of place, and the same name in another namespace
      `<req xmlns='${SD}' seqnr='6'><timestamp value='x'/><node xmlns='urn:x' nodeId='1'/></req>`,
      // EE where a required attribute is still missing
      `<cancel xmlns='${SD}'/>`,
    ];
    for (const doc of docs) expect(canonicalXml(roundTrip(doc)), doc).toEqual(canonicalXml(doc));
  });

  it('works in every alignment, with comments and PIs, and with options given out of band', () => {
    for (const opts of [
      { alignment: 'byte-alignment' },
      { alignment: 'pre-compression' },
      { alignment: 'compression' },
      { alignment: 'compression', blockSize: 3 },
      { alignment: 'pre-compression', blockSize: 1 },
      { valueMaxLength: 4, valuePartitionCapacity: 8 },
      { preserve: { comments: true, pis: true } },
      { includeCookie: true },
    ] satisfies ExiOptions[]) {
      const doc = fieldsMessage.replace('<node', '<!--c--><?pi data?><node');
      const out = roundTrip(doc, opts);
      expect(canonicalXml(out)).toEqual(
        canonicalXml(roundTrip(fieldsMessage.replace('<node', '<!--c--><?pi data?><node'), opts)),
      );
      if (opts.preserve) expect(out).toContain('<!--c--><?pi data?>');
    }
    const bytes = encode(fieldsMessage, { schema: sd });
    const stream = decodeStream(bytes, { schema: sd });
    expect(stream.optionsInHeader).toBe(false);
    expect(stream.options.schemaId).toBe('xep-0323.xsd');
    expect(canonicalXml(decode(bytes, { schema: sd }))).toEqual(canonicalXml(roundTrip(fieldsMessage)));
  });

  it('(pre-)compression: channels, blocks and more than 100 values per block', () => {
    const readings = Array.from({ length: 40 }, (_, i) => ({
      timestamp: at.getTime() + i * 60_000,
      fields: [
        { ...base, name: 'Temperature', type: 'numeric', value: 20 + (i % 7) / 10, unit: '°C', decimals: 1 },
        { ...base, name: 'Running', type: 'boolean', value: i % 3 === 0 },
        { ...base, name: 'State', type: 'string', value: i % 2 ? 'ok' : 'warming up' },
      ] as Field[],
    }));
    const doc = message(fieldsElement(5, true, [nodeElement('boiler', readings)]));
    const reference = canonicalXml(roundTrip(doc));
    for (const opts of [
      { alignment: 'compression' },
      { alignment: 'pre-compression' },
      { alignment: 'compression', blockSize: 150 },
      { alignment: 'pre-compression', blockSize: 7 },
    ] satisfies ExiOptions[]) {
      expect(canonicalXml(roundTrip(doc, opts)), JSON.stringify(opts)).toEqual(reference);
    }
    const compressed = encode(doc, { schema: sd, alignment: 'compression' }).length;
    expect(compressed).toBeLessThan(encode(doc, { schema: sd }).length);
    expect(compressed).toBeLessThan(encode(doc, { alignment: 'compression' }).length);
  });

  it('a typical fields message is smaller schema-informed than schema-less (and than deflate)', () => {
    const payload = message(
      fieldsElement(1, true, [
        nodeElement('probe7', [
          {
            timestamp: at.getTime(),
            fields: [
              { ...base, name: 'Temperature', type: 'numeric', value: 21.5, unit: '°C', decimals: 1 },
              { ...base, name: 'Humidity', type: 'numeric', value: 43.2, unit: '%', decimals: 1 },
              { ...base, name: 'Occupied', type: 'boolean', value: true },
            ],
          },
        ]),
      ]),
    );
    const xmlBytes = Buffer.byteLength(payload);
    const deflated = deflateRawSync(payload).length;
    const schemaLess = encode(payload).length;
    const informed = encode(payload, { schema: sd }).length;
    expect(informed).toBeLessThan(schemaLess);
    expect(informed).toBeLessThan(deflated);
    expect(informed * 3).toBeLessThan(xmlBytes);
  });
});

describe('schema-informed EXI: what is refused', () => {
  it('throws ExiUnsupportedError, never a wrong stream', () => {
    const bad: [string, ExiOptions][] = [
      [fieldsMessage, { schema: sd, preserve: { prefixes: true } }],
      [fieldsMessage, { schema: sd, strict: true }],
      [fieldsMessage, { schema: sd, preserve: { lexicalValues: true } }],
      [fieldsMessage, { schema: sd, selfContained: true }],
      [fieldsMessage, { schema: sd, fragment: true }],
      [fieldsMessage, { schemaId: 'xep-0999.xsd', schemas: iotSchemas() }],
      [fieldsMessage, { schemaId: 'constructor', schemas: iotSchemas() }],
      // xsi:type after other attributes (EXIficient sorts it first; so do we), xsi:nil without a schema grammar
      [
        `<fields xmlns='${SD}' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' seqnr='1'><node nodeId='x' xsi:nil='true'/></fields>`,
        { schema: sd, fragment: true },
      ],
      [
        `<message xmlns='jabber:client' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:nil='true'/>`,
        { schema: sd },
      ],
    ];
    for (const [doc, opts] of bad) {
      expect(() => encode(doc, opts), JSON.stringify(opts)).toThrow(ExiUnsupportedError);
    }
  });

  it('rejects schema constructs the compiler does not implement', () => {
    const wrap = (body: string) =>
      `<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='urn:t' elementFormDefault='qualified'>${body}</xs:schema>`;
    for (const body of [
      `<xs:element name='a' xmlns:o='urn:o'><xs:complexType><xs:group ref='o:g'/></xs:complexType></xs:element>`,
      `<xs:element name='a'><xs:complexType><xs:all><xs:element name='b'/></xs:all></xs:complexType></xs:element>`,
      `<xs:element name='a'><xs:complexType><xs:anyAttribute/></xs:complexType></xs:element>`,
      `<xs:include schemaLocation='x.xsd'/>`,
      `<xs:attribute name='g' type='xs:int'/>`,
    ]) {
      expect(() => compileXsd(wrap(body), 't'), body).toThrow(ExiUnsupportedError);
    }
  });
});
