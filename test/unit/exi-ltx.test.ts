/**
 * elementEvents (the gateway's ltx element → EXI events without a text round trip) gives exactly what
 * parseXml(standaloneXml(el, rootAttrs)) gives: for the reference stanzas, and for the unusual cases that take
 * the text path (CR characters, odd names, undeclared prefixes, numbers as children and attribute values).
 */
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Element, Parser } from '@xmpp/xml';
import { describe, expect, it } from 'vitest';
import { parseXml } from 'exi4js';
import { standaloneXml } from '../../src/xmpp/exi-connection.js';
import { elementEvents } from '../../src/xmpp/exi-ltx.js';

const VECTORS = fileURLToPath(new URL('../../packages/exi4js/test/vectors/', import.meta.url));
const ROOT = { xmlns: 'jabber:client', 'xmlns:stream': 'http://etherx.jabber.org/streams' };

/** Top-level elements of `xml` as @xmpp/xml's Parser gives them inside a client stream. */
function stanzas(xml: string): Element[] {
  const out: Element[] = [];
  const p = new Parser();
  p.on('element', (el: Element) => out.push(el));
  p.write(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`);
  p.write(xml.replace(/^<\?xml[^?]*\?>/, ''));
  return out;
}

function textPath(el: Element, root: Record<string, string | undefined> = ROOT): unknown {
  try {
    return parseXml(standaloneXml(el, root));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function fastPath(el: Element, root: Record<string, string | undefined> = ROOT): unknown {
  try {
    return elementEvents(el, root);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

describe('elementEvents', () => {
  it('matches the text path for the reference stanzas', () => {
    const files = existsSync(VECTORS) ? readdirSync(VECTORS).filter((f) => /^[a-z0-9-]+\.xml$/.test(f)) : [];
    const inline =
      `<message to='a@b/c' id='m1'><fields xmlns='urn:xmpp:iot:sensordata' seqnr='1' done='true'>` +
      `<node nodeId='n'><timestamp value='2026-03-01T10:15:00.000Z'><numeric name='T' value='21.5' unit='°C'/>` +
      `</timestamp></node></fields><body>a &amp; b &lt; c\n\td</body></message>`;
    let n = 0;
    for (const xml of [inline, ...files.map((f) => readFileSync(VECTORS + f, 'utf8'))]) {
      for (const el of stanzas(xml)) {
        expect(fastPath(el)).toStrictEqual(textPath(el));
        n++;
      }
    }
    expect(n).toBeGreaterThan(0);
  });

  it('matches the text path for unusual elements', () => {
    const cases: Element[] = [];
    const add = (name: string, attrs: Record<string, unknown>, ...children: unknown[]) => {
      const el = new Element(name, attrs as Record<string, string>);
      el.children = children as Element[];
      cases.push(el);
      return el;
    };
    add('message', { to: 'a\tb\nc', n: 42, flag: true, nothing: undefined, empty: null }, 'x', 7, 'y');
    add('message', { to: 'a\r\nb' }, 'text');
    add('message', {}, 'line\r\nend');
    add('p:message', {});
    add('p:message', { 'xmlns:p': 'urn:p', 'p:a': '1', 'q:b': '2' });
    add('message', { 'xmlns:p': 'urn:x', 'xmlns:q': 'urn:x', 'p:a': '1', 'q:a': '2' });
    add('message', { xmlns: 'urn:other', 'xml:lang': 'en', 'xmlns:xml': 'urn:wrong' });
    add('message', { 'xmlns:p': '' });
    add('méssage', { é: 'x' });
    add('message', { 'bad name': 'x' });
    add('message', { xmlns: undefined }, add('inner', { xmlns: 'urn:inner', a: '<&>"\'' }, ' ', 'z'));
    add('message', { 'xmlns:s': 'urn:s' }, add('s:inner', { 's:a': 'v' }), add('other', {}));
    for (const el of cases) {
      expect(fastPath(el)).toStrictEqual(textPath(el));
      expect(fastPath(el, {})).toStrictEqual(textPath(el, {}));
    }
  });
});
