import { describe, expect, it } from 'vitest';
import { ExiError, ExiUnsupportedError, parseXml, serializeXml } from '../src/index.js';

describe('XML tokenizer', () => {
  it('resolves namespaces and reports declarations as NS events', () => {
    expect(
      parseXml(`<?xml version='1.0'?><s:a xmlns:s='urn:s' xmlns='urn:d' s:k='1' k='2'><b/></s:a>`),
    ).toEqual([
      { type: 'SD' },
      { type: 'SE', uri: 'urn:s', localName: 'a', prefix: 's' },
      { type: 'NS', uri: 'urn:s', prefix: 's', localElementNs: true },
      { type: 'NS', uri: 'urn:d', prefix: '', localElementNs: false },
      { type: 'AT', uri: 'urn:s', localName: 'k', prefix: 's', value: '1' },
      { type: 'AT', uri: '', localName: 'k', prefix: '', value: '2' },
      { type: 'SE', uri: 'urn:d', localName: 'b', prefix: '' },
      { type: 'EE' },
      { type: 'EE' },
      { type: 'ED' },
    ]);
  });

  it('decodes entities, character references and CDATA, and normalizes line ends and attributes', () => {
    const events = parseXml(`<a v='x\ty&#9;&lt;&#x1F600;'>1 &amp; 2\r\n<![CDATA[<&>]]>&quot;</a>`);
    expect(events[2]).toEqual({ type: 'AT', uri: '', localName: 'v', prefix: '', value: 'x y\t<😀' });
    expect(events[3]).toEqual({ type: 'CH', value: '1 & 2\n<&>"' });
  });

  it('keeps comments and PIs, also outside the root element', () => {
    const types = parseXml(`<!--a--><?p d?><r><!--b--></r><?q?>`).map((e) => e.type);
    expect(types).toEqual(['SD', 'CM', 'PI', 'SE', 'CM', 'EE', 'PI', 'ED']);
  });

  it('rejects malformed input with clear errors', () => {
    expect(() => parseXml('<a><b></a>')).toThrow(/mismatched/);
    expect(() => parseXml('<p:a/>')).toThrow(/undeclared namespace prefix 'p'/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<a/><b/>')).toThrow(/more than one root/);
    expect(() => parseXml('<a>&nbsp;</a>')).toThrow(/unknown entity/);
    expect(() => parseXml('text')).toThrow(ExiError);
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY e "x">]><a/>')).toThrow(ExiUnsupportedError);
  });
});

describe('XML serializer', () => {
  it('escapes text and attribute values', () => {
    const xml = serializeXml([
      { type: 'SE', uri: '', localName: 'a' },
      { type: 'AT', uri: '', localName: 'v', value: '<"&\t\n>' },
      { type: 'CH', value: 'a<b&c>d\r' },
      { type: 'EE' },
    ]);
    expect(xml).toBe('<a v="&lt;&quot;&amp;&#9;&#10;>">a&lt;b&amp;c&gt;d&#13;</a>');
    expect(parseXml(xml)[3]).toEqual({ type: 'CH', value: 'a<b&c>d\r' });
  });

  it('invents declarations when prefixes were not preserved', () => {
    const xml = serializeXml([
      { type: 'SE', uri: 'jabber:client', localName: 'iq' },
      { type: 'AT', uri: 'urn:x', localName: 'k', value: '1' },
      { type: 'AT', uri: 'http://www.w3.org/XML/1998/namespace', localName: 'lang', value: 'en' },
      { type: 'SE', uri: '', localName: 'plain' },
      { type: 'EE' },
      { type: 'EE' },
    ]);
    expect(xml).toBe(
      '<iq xmlns="jabber:client" xmlns:ns1="urn:x" ns1:k="1" xml:lang="en"><plain xmlns=""/></iq>',
    );
  });
});
