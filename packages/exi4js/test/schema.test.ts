/**
 * Schema-informed EXI: typed values (§7.1), what the schema compiler derives, and XEP-0325 control documents
 * (xep-0325.xsd). Round trips with the agent's XEP-0323 stanzas are the app's test/unit/exi-iot-stanzas.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { canonicalXml, compileXsd, decode, encode, iotSchema, iotSchemas } from '../src/index.js';
import { parseFloatValue } from '../src/schema/datatypes.js';
import { restrictedCharset } from '../src/schema/xsd.js';

const ctl = iotSchema('xep-0325.xsd');

describe('schema-informed EXI: typed values (§7.1)', () => {
  const schema = compileXsd(
    `<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='urn:t' xmlns='urn:t' elementFormDefault='qualified'>
      <xs:simpleType name='Level'><xs:restriction base='xs:string'>
        <xs:enumeration value='Low'/><xs:enumeration value='Mid'/><xs:enumeration value='High'/>
      </xs:restriction></xs:simpleType>
      <xs:simpleType name='Percent'><xs:restriction base='xs:int'>
        <xs:minInclusive value='0'/><xs:maxInclusive value='100'/>
      </xs:restriction></xs:simpleType>
      <xs:simpleType name='Hex'><xs:restriction base='xs:string'><xs:pattern value='[0-9a-f]+'/></xs:restriction></xs:simpleType>
      <xs:element name='v'>
        <xs:complexType>
          <xs:sequence minOccurs='0' maxOccurs='unbounded'>
            <xs:element name='dec' type='xs:decimal' minOccurs='0'/>
            <xs:element name='uint' type='xs:unsignedLong' minOccurs='0'/>
            <xs:element name='gy' type='xs:gYear' minOccurs='0'/>
            <xs:element name='gmd' type='xs:gMonthDay' minOccurs='0'/>
            <xs:element name='hex' type='Hex' minOccurs='0'/>
          </xs:sequence>
          <xs:attribute name='b' type='xs:byte'/>
          <xs:attribute name='dt' type='xs:dateTime'/>
          <xs:attribute name='f' type='xs:float'/>
          <xs:attribute name='level' type='Level'/>
          <xs:attribute name='p' type='Percent'/>
          <xs:attribute name='pos' type='xs:positiveInteger'/>
          <xs:attribute name='t' type='xs:time'/>
        </xs:complexType>
      </xs:element>
    </xs:schema>`,
    'typed-test',
  );
  const rt = (doc: string) => decode(encode(doc, { schema }), { schema });

  it('parses floats as EXIficient does (mantissa without trailing zeros)', () => {
    const f = (s: string) => {
      const v = parseFloatValue(s);
      return v && `${v.m}E${v.e}`;
    };
    expect([f('21.50'), f('4.0'), f('612'), f('1013.25'), f('-0.5'), f('1e3'), f('0.00'), f('.5')]).toEqual([
      '215E-1',
      '4E0',
      '612E0',
      '101325E-2',
      '-5E-1',
      '1E3',
      '0E0',
      '5E-1',
    ]);
    expect(f('abc')).toBeUndefined();
    expect(f('1e99999')).toBeUndefined();
  });

  it('encodes n-bit integers, enumerations, decimals, date-times, floats and restricted strings', () => {
    const doc =
      `<v xmlns='urn:t' b='-128' dt='2026-03-01T23:59:59.125+05:30' f='-INF' level='High' p='100' pos='123456789012345678901234567890' t='00:00:00-12:00'>` +
      `<dec>-123.4500</dec><uint>18446744073709551615</uint><gy>1999Z</gy><gmd>--12-31</gmd><hex>deadbeefx</hex></v>`;
    expect(canonicalXml(rt(doc))).toEqual(
      canonicalXml(
        doc
          .replace('-123.4500', '-123.45')
          .replace('-128', '-128')
          .replace("t='00:00:00-12:00'", "t='00:00:00-12:00'"),
      ),
    );
    for (const [a, b] of [
      [`<v xmlns='urn:t' level='Low'/>`, `<v xmlns='urn:t' level='High'/>`],
      [`<v xmlns='urn:t' p='0'/>`, `<v xmlns='urn:t' p='99'/>`],
    ] as const) {
      // 2-bit enumeration index / 7-bit unsigned: same size whatever the value
      expect(encode(a, { schema }).length).toBe(encode(b, { schema }).length);
    }
    // out of range / not in the enumeration: untyped, and still round-trips
    for (const doc of [
      `<v xmlns='urn:t' p='101'/>`,
      `<v xmlns='urn:t' level='Huge'/>`,
      `<v xmlns='urn:t' b='128'/>`,
    ]) {
      expect(canonicalXml(rt(doc))).toEqual(canonicalXml(doc));
    }
  });

  it('mixed content, complexContent restriction, nested groups, references', () => {
    const schema = compileXsd(
      `<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='urn:m' xmlns='urn:m' elementFormDefault='qualified'>
        <xs:complexType name='Base'>
          <xs:sequence><xs:element name='a' type='xs:int' minOccurs='0'/><xs:element name='b' minOccurs='0'/></xs:sequence>
          <xs:attribute name='x' type='xs:boolean'/><xs:attribute name='y' type='xs:int'/>
        </xs:complexType>
        <xs:complexType name='Narrow'><xs:complexContent><xs:restriction base='Base'>
          <xs:sequence><xs:element name='a' type='xs:int'/></xs:sequence>
          <xs:attribute name='y' use='prohibited'/>
        </xs:restriction></xs:complexContent></xs:complexType>
        <xs:element name='ref' type='xs:date'/>
        <xs:element name='doc'>
          <xs:complexType mixed='true'>
            <xs:sequence>
              <xs:element name='n' type='Narrow' minOccurs='0'/>
              <xs:choice minOccurs='0' maxOccurs='3'><xs:element ref='ref'/><xs:element name='c' type='xs:long'/></xs:choice>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
      </xs:schema>`,
      'm',
    );
    const doc = `<doc xmlns='urn:m'>text <n x='1'><a>5</a></n> more <ref>2026-03-01</ref><c>-9</c><ref>2026-03-02Z</ref> end</doc>`;
    const out = decode(encode(doc, { schema }), { schema });
    expect(canonicalXml(out)).toEqual(canonicalXml(doc.replace("x='1'", "x='true'")));
    // y is prohibited in Narrow: it is an undeclared attribute there, still round-trips as a string
    const y = `<doc xmlns='urn:m'><n y='07'><a>1</a></n></doc>`;
    expect(canonicalXml(decode(encode(y, { schema }), { schema }))).toEqual(canonicalXml(y));
    // the typed form is smaller than schema-less
    expect(encode(doc, { schema }).length).toBeLessThan(encode(doc).length);
  });

  it('derives restricted character sets from patterns (§7.1.10.1, Appendix E)', () => {
    expect(restrictedCharset(['[0-9a-f]+'])?.length).toBe(16);
    expect(
      restrictedCharset(['^([0-9a-fA-F]{6})|([0-9a-fA-F]{8})$'])
        ?.map((c) => String.fromCharCode(c))
        .join(''),
    ).toBe('$0123456789ABCDEF^abcdef');
    expect(restrictedCharset(['\\d+'])).toBeUndefined();
    expect(restrictedCharset(['[^,]*'])).toBeUndefined();
    expect(restrictedCharset(['a.b'])).toBeUndefined();
    expect(restrictedCharset(['\\s[\\-+]x{2,3}'])).toEqual([9, 10, 13, 32, 43, 45, 120]);
  });
});

describe('schema-informed EXI: XEP-0325 control (xep-0325.xsd)', () => {
  const CTL = 'urn:xmpp:iot:control';
  const rt = (doc: string) =>
    decode(encode(doc, { schema: ctl, includeOptions: true }), { schemas: iotSchemas() });

  it('compiles the checked-in schema', () => {
    expect(ctl.id).toBe('xep-0325.xsd');
    expect(ctl.targetNamespace).toBe(CTL);
    expect([...ctl.globalElements.values()].map((e) => e.localName).sort()).toEqual([
      'getForm',
      'paramError',
      'parameterGroup',
      'set',
      'setResponse',
    ]);
  });

  it('round-trips set with every parameter type and an x:data form (xs:anyType element)', () => {
    const doc =
      `<iq xmlns='jabber:client' type='set' id='s1' to='actuator@iot.example.org/agent'>` +
      `<set xmlns='${CTL}' serviceToken='svc'><node nodeId='relay1'/>` +
      `<boolean name='On' value='true'/><color name='Led' value='FF8000'/><date name='D' value='2026-03-01'/>` +
      `<dateTime name='DT' value='2026-03-01T10:15:00Z'/><double name='Sp' value='21.5'/>` +
      `<duration name='Du' value='PT5M'/><int name='I' value='-3'/><long name='L' value='12345678901'/>` +
      `<string name='S' value='hello'/><time name='T' value='06:30:00'/>` +
      `<x xmlns='jabber:x:data' type='submit'><field var='Mode'><value>auto</value></field></x>` +
      `</set></iq>`;
    expect(canonicalXml(rt(doc))).toEqual(canonicalXml(doc.replace("value='21.5'", "value='215E-1'")));
  });

  it('round-trips setResponse, paramError and getForm', () => {
    for (const doc of [
      `<iq xmlns='jabber:client' type='result' id='s1'><setResponse xmlns='${CTL}'><node nodeId='relay1'/><parameter name='On'/></setResponse></iq>`,
      `<iq xmlns='jabber:client' type='error' id='s1'><error type='modify'><paramError xmlns='${CTL}' var='Sp'>Out of range</paramError></error></iq>`,
      `<iq xmlns='jabber:client' type='get' id='g1'><getForm xmlns='${CTL}' deviceToken='d'><node nodeId='a' sourceId='s'/></getForm></iq>`,
    ]) {
      expect(canonicalXml(rt(doc)), doc).toEqual(canonicalXml(doc));
    }
  });
});
