/**
 * Minimal namespace-aware XML tokenizer and serializer for the XMPP subset: elements,
 * attributes, namespace declarations, character data (entities, character references, CDATA),
 * comments and processing instructions. DTDs are rejected. Line endings and attribute values
 * are normalized as XML 1.0 requires; the XML declaration is skipped.
 */
import { ExiError, ExiUnsupportedError } from './bits.js';
import { type ExiEvent, XML_NS, XMLNS_NS } from './types.js';

const NAME_RE =
  /^[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7\u00C0-\uFFFF]*(?::[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7\u00C0-\uFFFF]*)?$/;
const TAG_NAME = /[^\s/>]+/y;
const ATTRIBUTE = /([^\s=/>]+)\s*=\s*(["'])/y;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, at: number): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&\s]*);?/g, (m, ref: string) => {
    if (!m.endsWith(';')) throw new ExiError(`XML: bad entity reference near offset ${at}`);
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!Number.isFinite(cp) || cp < 0 || cp > 0x10ffff)
        throw new ExiError(`XML: bad character reference ${m}`);
      return String.fromCodePoint(cp);
    }
    const v = ENTITIES[ref];
    if (v === undefined) throw new ExiError(`XML: unknown entity ${m}`);
    return v;
  });
}

interface OpenElement {
  qname: string;
  bindings: Map<string, string>;
}

/** Parses an XML document into an EXI event sequence (SD ... ED), including NS events. */
export function parseXml(xml: string): ExiEvent[] {
  const src = xml.replace(/\r\n?/g, '\n').replace(/^\uFEFF/, '');
  const events: ExiEvent[] = [{ type: 'SD' }];
  const stack: OpenElement[] = [];
  let scope = predefinedBindings();
  let text = '';
  let rootSeen = false;

  const flushText = () => {
    if (text === '') return;
    if (stack.length === 0) {
      if (text.trim() !== '') throw new ExiError('XML: character data outside the root element');
    } else {
      events.push({ type: 'CH', value: text });
    }
    text = '';
  };

  const resolve = (prefix: string, forAttribute: boolean, bindings: Map<string, string>): string => {
    if (prefix === '' && forAttribute) return '';
    const uri = bindings.get(prefix);
    if (uri === undefined) throw new ExiError(`XML: undeclared namespace prefix '${prefix}'`);
    return uri;
  };

  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    if (lt < 0) {
      text += decodeEntities(src.slice(i), i);
      break;
    }
    if (lt > i) text += decodeEntities(src.slice(i, lt), i);
    i = lt;
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) throw new ExiError('XML: unterminated comment');
      flushText();
      events.push({ type: 'CM', text: src.slice(i + 4, end) });
      i = end + 3;
    } else if (src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i + 9);
      if (end < 0) throw new ExiError('XML: unterminated CDATA section');
      if (stack.length === 0) throw new ExiError('XML: CDATA outside the root element');
      text += src.slice(i + 9, end);
      i = end + 3;
    } else if (src.startsWith('<!', i)) {
      throw new ExiUnsupportedError('DTD (document type declarations)');
    } else if (src.startsWith('<?', i)) {
      const end = src.indexOf('?>', i + 2);
      if (end < 0) throw new ExiError('XML: unterminated processing instruction');
      const body = src.slice(i + 2, end);
      const m = /^([^\s?]+)(?:\s+([\s\S]*))?$/.exec(body);
      if (!m) throw new ExiError('XML: bad processing instruction');
      const target = m[1] as string;
      i = end + 2;
      if (target.toLowerCase() === 'xml') {
        if (events.length > 1 || rootSeen) throw new ExiError('XML: misplaced XML declaration');
        continue;
      }
      flushText();
      events.push({ type: 'PI', target, data: m[2] ?? '' });
    } else if (src.startsWith('</', i)) {
      const end = src.indexOf('>', i);
      if (end < 0) throw new ExiError('XML: unterminated end tag');
      const name = src.slice(i + 2, end).trim();
      flushText();
      const open = stack.pop();
      if (!open || open.qname !== name) throw new ExiError(`XML: mismatched end tag </${name}>`);
      events.push({ type: 'EE' });
      scope = stack.at(-1)?.bindings ?? predefinedBindings();
      i = end + 1;
    } else {
      // start tag
      TAG_NAME.lastIndex = i + 1;
      const nameMatch = TAG_NAME.exec(src);
      if (!nameMatch) throw new ExiError(`XML: bad start tag at offset ${i}`);
      const qname = nameMatch[0];
      if (!NAME_RE.test(qname)) throw new ExiError(`XML: bad element name '${qname}'`);
      let j = i + 1 + qname.length;
      const attrs: [string, string][] = [];
      let selfClosing = false;
      for (;;) {
        while (isSpace(src.charCodeAt(j))) j++;
        const c = src[j];
        if (c === undefined) throw new ExiError('XML: unterminated start tag');
        if (c === '>') {
          j++;
          break;
        }
        if (c === '/') {
          if (src[j + 1] !== '>') throw new ExiError('XML: bad start tag');
          selfClosing = true;
          j += 2;
          break;
        }
        ATTRIBUTE.lastIndex = j;
        const m = ATTRIBUTE.exec(src);
        if (!m) throw new ExiError(`XML: bad attribute at offset ${j}`);
        const aname = m[1] as string;
        const quote = m[2] as string;
        const vstart = j + m[0].length;
        const vend = src.indexOf(quote, vstart);
        if (vend < 0) throw new ExiError('XML: unterminated attribute value');
        const raw = src.slice(vstart, vend);
        if (raw.includes('<')) throw new ExiError('XML: "<" in attribute value');
        if (attrs.some(([n]) => n === aname)) throw new ExiError(`XML: duplicate attribute ${aname}`);
        attrs.push([aname, decodeEntities(raw.replace(/[\t\n]/g, ' '), vstart)]);
        j = vend + 1;
      }
      if (stack.length === 0 && rootSeen) throw new ExiError('XML: more than one root element');
      rootSeen = true;
      flushText();

      const bindings = new Map(scope);
      const nsDecls: { prefix: string; uri: string }[] = [];
      for (const [n, v] of attrs) {
        if (n === 'xmlns' || n.startsWith('xmlns:')) {
          const prefix = n === 'xmlns' ? '' : n.slice(6);
          if (prefix === 'xmlns' || (prefix === 'xml') !== (v === XML_NS)) {
            throw new ExiError(`XML: illegal namespace declaration ${n}="${v}"`);
          }
          if (prefix !== '' && v === '') throw new ExiError(`XML: cannot undeclare prefix ${prefix}`);
          bindings.set(prefix, v);
          nsDecls.push({ prefix, uri: v });
        }
      }
      const colon = qname.indexOf(':');
      const prefix = colon < 0 ? '' : qname.slice(0, colon);
      const localName = colon < 0 ? qname : qname.slice(colon + 1);
      const uri = resolve(prefix, false, bindings);
      events.push({ type: 'SE', uri, localName, prefix });
      for (const d of nsDecls) {
        events.push({ type: 'NS', uri: d.uri, prefix: d.prefix, localElementNs: d.prefix === prefix });
      }
      const seen = new Set<string>();
      for (const [n, v] of attrs) {
        if (n === 'xmlns' || n.startsWith('xmlns:')) continue;
        const c = n.indexOf(':');
        const ap = c < 0 ? '' : n.slice(0, c);
        const al = c < 0 ? n : n.slice(c + 1);
        const au = resolve(ap, true, bindings);
        if (au === XMLNS_NS) continue;
        const k = `${au} ${al}`;
        if (seen.has(k)) throw new ExiError(`XML: duplicate attribute {${au}}${al}`);
        seen.add(k);
        events.push({ type: 'AT', uri: au, localName: al, prefix: ap, value: v });
      }
      if (selfClosing) {
        events.push({ type: 'EE' });
      } else {
        stack.push({ qname, bindings });
        scope = bindings;
      }
      i = j;
    }
  }
  flushText();
  if (stack.length > 0) throw new ExiError(`XML: unclosed element <${stack.at(-1)?.qname}>`);
  if (!rootSeen) throw new ExiError('XML: no root element');
  events.push({ type: 'ED' });
  return events;
}

const FRAGMENT_WRAPPER = 'exi-fragment-wrapper';

/**
 * Parses an XML fragment (any number of top-level elements, comments and PIs; top-level text
 * must be whitespace) into an event sequence SD ... ED for a fragment stream.
 */
export function parseXmlFragment(xml: string): ExiEvent[] {
  const body = xml.replace(/^\uFEFF/, '').replace(/^\s*<\?xml\s[^?]*\?>/, '');
  const inner = parseXml(`<${FRAGMENT_WRAPPER}>${body}</${FRAGMENT_WRAPPER}>`).slice(2, -2);
  let depth = 0;
  const out: ExiEvent[] = [{ type: 'SD' }];
  for (const e of inner) {
    if (e.type === 'SE') depth++;
    else if (e.type === 'EE') depth--;
    else if (e.type === 'CH' && depth === 0) {
      if (e.value.trim() !== '') throw new ExiError('XML: character data outside elements in a fragment');
      continue;
    }
    out.push(e);
  }
  out.push({ type: 'ED' });
  return out;
}

const WS_ONLY = /^[ \t\n\r]*$/;

/**
 * Drops whitespace-only character data that a SAX-based encoder treats as ignorable: any
 * whitespace-only CH event except the only content of an element (directly between its start
 * and end tag) and except inside `xml:space="preserve"`. Expects adjacent CH events merged.
 */
export function dropIgnorableWhitespace(events: readonly ExiEvent[]): ExiEvent[] {
  const out: ExiEvent[] = [];
  const preserve: boolean[] = [false];
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as ExiEvent;
    if (e.type === 'SE') preserve.push(preserve.at(-1) as boolean);
    else if (e.type === 'EE') preserve.pop();
    else if (e.type === 'AT' && e.uri === XML_NS && e.localName === 'space') {
      preserve[preserve.length - 1] = e.value === 'preserve';
    } else if (e.type === 'CH' && !preserve.at(-1) && WS_ONLY.test(e.value)) {
      const prev = events[i - 1]?.type;
      const onlyContent = (prev === 'SE' || prev === 'AT' || prev === 'NS') && events[i + 1]?.type === 'EE';
      if (!onlyContent) continue;
    }
    out.push(e);
  }
  return out;
}

/** Removes comments/PIs that are not preserved and merges the character data around them. */
export function pruneEvents(
  events: readonly ExiEvent[],
  keepComments: boolean,
  keepPis: boolean,
): ExiEvent[] {
  const out: ExiEvent[] = [];
  for (const e of events) {
    if ((e.type === 'CM' && !keepComments) || (e.type === 'PI' && !keepPis)) continue;
    const last = out.at(-1);
    if (e.type === 'CH' && last?.type === 'CH')
      out[out.length - 1] = { type: 'CH', value: last.value + e.value };
    else out.push(e);
  }
  return out;
}

function predefinedBindings(): Map<string, string> {
  return new Map([
    ['xml', XML_NS],
    ['', ''],
  ]);
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function escapeAttr(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/**
 * Serializes an event sequence to XML. With prefixes preserved (NS events present) the original
 * prefixes and declarations are used; otherwise prefixes are generated (`ns1`, `ns2`, ...) and the
 * default namespace is used for elements.
 */
export function serializeXml(events: readonly ExiEvent[]): string {
  let out = '';
  const scopes: Map<string, string>[] = [predefinedBindings()];
  const names: string[] = [];
  let generated = 0;
  let i = 0;
  while (i < events.length) {
    const e = events[i] as ExiEvent;
    i++;
    switch (e.type) {
      case 'SD':
      case 'ED':
        break;
      case 'SE': {
        const parent = scopes.at(-1) as Map<string, string>;
        const scope = new Map(parent);
        const decls = new Map<string, string>();
        const declare = (prefix: string, uri: string) => {
          decls.set(prefix, uri);
          scope.set(prefix, uri);
        };
        const attrs: Extract<ExiEvent, { type: 'AT' }>[] = [];
        while (i < events.length) {
          const n = events[i] as ExiEvent;
          if (n.type === 'NS') {
            if (!decls.has(n.prefix)) declare(n.prefix, n.uri);
          } else if (n.type === 'AT') {
            attrs.push(n);
          } else break;
          i++;
        }
        let prefix = e.prefix;
        if (prefix !== undefined && scope.get(prefix) !== e.uri) prefix = undefined;
        if (prefix === undefined) {
          if (scope.get('') === e.uri) prefix = '';
          else if (e.uri === '' || !decls.has('')) {
            prefix = '';
            declare('', e.uri);
          } else {
            prefix = findPrefix(scope, e.uri);
            if (prefix === undefined) {
              do prefix = `ns${++generated}`;
              while (scope.has(prefix));
              declare(prefix, e.uri);
            }
          }
        }
        const qname = prefix === '' ? e.localName : `${prefix}:${e.localName}`;
        let attrText = '';
        for (const a of attrs) {
          let ap = '';
          if (a.uri === XML_NS) ap = 'xml';
          else if (a.uri !== '') {
            ap = a.prefix !== undefined && a.prefix !== '' && scope.get(a.prefix) === a.uri ? a.prefix : '';
            if (ap === '') {
              ap = findPrefix(scope, a.uri) ?? '';
              if (ap === '') {
                do ap = `ns${++generated}`;
                while (scope.has(ap));
                declare(ap, a.uri);
              }
            }
          }
          attrText += ` ${ap === '' ? a.localName : `${ap}:${a.localName}`}="${escapeAttr(a.value)}"`;
        }
        let declText = '';
        for (const [p, u] of decls) declText += ` ${p === '' ? 'xmlns' : `xmlns:${p}`}="${escapeAttr(u)}"`;
        const next = events[i];
        if (next?.type === 'EE') {
          out += `<${qname}${declText}${attrText}/>`;
          i++;
        } else {
          out += `<${qname}${declText}${attrText}>`;
          names.push(qname);
          scopes.push(scope);
        }
        break;
      }
      case 'EE': {
        const name = names.pop();
        if (name === undefined) throw new ExiError('unbalanced EE event');
        scopes.pop();
        out += `</${name}>`;
        break;
      }
      case 'CH':
        out += escapeText(e.value);
        break;
      case 'CM':
        out += `<!--${e.text}-->`;
        break;
      case 'PI':
        out += e.data === '' ? `<?${e.target}?>` : `<?${e.target} ${e.data}?>`;
        break;
      case 'NS':
      case 'AT':
        throw new ExiError(`${e.type} event outside a start tag`);
    }
  }
  return out;
}

function findPrefix(scope: Map<string, string>, uri: string): string | undefined {
  for (const [p, u] of scope) if (p !== '' && u === uri) return p;
  return undefined;
}
