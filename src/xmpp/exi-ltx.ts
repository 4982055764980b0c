/**
 * An ltx element (what @xmpp/xml's Parser gives the hub's EXI gateway for each upstream stanza) straight to EXI
 * events: the events `parseXml(standaloneXml(el, rootAttrs))` gives, without writing the element out as XML text
 * and parsing that text again (about 8 µs for a sensor-data message; this walk takes about 1 µs). Anything out of
 * the ordinary (names that are not plain ASCII XML names, CR characters, undeclared prefixes, duplicate
 * attributes, bad namespace declarations) takes that text path instead, so events and errors stay exactly the same.
 */
import { Element } from '@xmpp/xml';
import { type ExiEvent, parseXml, XML_NS, XMLNS_NS, asciiName } from 'exi4js';
import { standaloneXml } from './exi-connection.js';

/** Namespace bindings in scope, innermost first (as in parseXml). */
interface Binding {
  readonly prefix: string;
  readonly uri: string;
  readonly next: Binding | undefined;
}

const PREDEFINED: Binding = { prefix: 'xml', uri: XML_NS, next: { prefix: '', uri: '', next: undefined } };

/** Thrown inside the walk: the element needs the text path. */
const FALLBACK = Symbol('fallback');

/** An ASCII XML name with at most one colon, not at either end (what parseXml accepts without question). */
function plainName(s: string): boolean {
  return asciiName(s) === true;
}

/** ltx writes `v` or `v.toString(10)`; parseXml normalizes tabs and newlines in attribute values to spaces. */
function attributeValue(v: unknown): string {
  const s = typeof v === 'string' ? v : (v as { toString(radix: number): string }).toString(10);
  let out = s;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d) throw FALLBACK; // line-end normalization
    if (c === 0x09 || c === 0x0a) {
      out = s.replace(/[\t\n]/g, ' ');
      break;
    }
  }
  return out;
}

function resolve(prefix: string, bindings: Binding): string {
  for (let b: Binding | undefined = bindings; b; b = b.next) if (b.prefix === prefix) return b.uri;
  throw FALLBACK;
}

function isDeclaration(k: string): boolean {
  return k === 'xmlns' || k.startsWith('xmlns:');
}

function walk(el: Element, attrs: Record<string, unknown>, scope: Binding, events: ExiEvent[]): void {
  const qname = el.name;
  if (typeof qname !== 'string' || !plainName(qname)) throw FALLBACK;
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  const localName = colon < 0 ? qname : qname.slice(colon + 1);
  const se: Extract<ExiEvent, { type: 'SE' }> = { type: 'SE', uri: '', localName, prefix };
  events.push(se);
  let bindings = scope;
  for (const k in attrs) {
    const v = attrs[k];
    if (v == null || !isDeclaration(k)) continue;
    const value = attributeValue(v);
    const p = k === 'xmlns' ? '' : k.slice(6);
    if (p === 'xmlns' || (p === 'xml') !== (value === XML_NS) || (p !== '' && value === '')) throw FALLBACK;
    if (p !== '' && !plainName(p)) throw FALLBACK;
    bindings = { prefix: p, uri: value, next: bindings };
    events.push({ type: 'NS', uri: value, prefix: p, localElementNs: p === prefix });
  }
  se.uri = resolve(prefix, bindings);
  const atStart = events.length;
  for (const k in attrs) {
    const v = attrs[k];
    if (v == null || isDeclaration(k)) continue;
    if (!plainName(k)) throw FALLBACK;
    const value = attributeValue(v);
    const c = k.indexOf(':');
    const ap = c < 0 ? '' : k.slice(0, c);
    const al = c < 0 ? k : k.slice(c + 1);
    const au = ap === '' ? '' : resolve(ap, bindings);
    if (au === XMLNS_NS) continue;
    for (let b = atStart; b < events.length; b++) {
      const o = events[b] as Extract<ExiEvent, { type: 'AT' }>;
      if (o.localName === al && o.uri === au) throw FALLBACK;
    }
    events.push({ type: 'AT', uri: au, localName: al, prefix: ap, value });
  }
  let text = '';
  for (const child of el.children as unknown[]) {
    if (child == null) continue;
    if ((child as { write?: unknown }).write) {
      if (!(child instanceof Element)) throw FALLBACK;
      if (text !== '') {
        events.push({ type: 'CH', value: text });
        text = '';
      }
      const e = child as Element;
      walk(e, e.attrs as Record<string, unknown>, bindings, events);
    } else {
      const s =
        typeof child === 'string'
          ? child
          : (child as { toString?: (radix: number) => string }).toString
            ? (child as { toString(radix: number): string }).toString(10)
            : '';
      if (s.includes('\r')) throw FALLBACK;
      text += s;
    }
  }
  if (text !== '') events.push({ type: 'CH', value: text });
  events.push({ type: 'EE' });
}

/** `parseXml(standaloneXml(el, rootAttrs))`, faster. */
export function elementEvents(el: Element, rootAttrs: Record<string, string | undefined>): ExiEvent[] {
  // The attributes standaloneXml writes, in its order.
  const attrs: Record<string, unknown> = { ...el.attrs };
  for (const [k, v] of Object.entries(rootAttrs)) {
    if (v === undefined) continue;
    if ((k === 'xmlns' || k.startsWith('xmlns:')) && attrs[k] === undefined) attrs[k] = v;
  }
  const events: ExiEvent[] = [{ type: 'SD' }];
  try {
    walk(el, attrs, PREDEFINED, events);
  } catch (err) {
    if (err !== FALLBACK) throw err;
    return parseXml(standaloneXml(el, rootAttrs));
  }
  events.push({ type: 'ED' });
  return events;
}
