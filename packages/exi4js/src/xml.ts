/**
 * Minimal namespace-aware XML tokenizer and serializer for the XMPP subset: elements,
 * attributes, namespace declarations, character data (entities, character references, CDATA),
 * comments and processing instructions. DTDs are rejected. Line endings and attribute values
 * are normalized as XML 1.0 requires; the XML declaration is skipped.
 */
import { ExiError, ExiUnsupportedError } from './bits.js';
import { checkComment, checkPi, isNCName } from './names.js';
import { type ExiEvent, XML_NS, XMLNS_NS } from './types.js';

const NAME_RE =
  /^[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7\u00C0-\uFFFF]*(?::[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7\u00C0-\uFFFF]*)?$/;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
/** Whether a UTF-16 code unit is whitespace as RegExp `\s` defines it. */
function isJsSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** NAME_RE without the regular expression for ASCII names. */
function isName(s: string): boolean {
  return asciiName(s) ?? NAME_RE.test(s);
}

/**
 * Whether `s` is an XML name with at most one colon, not at either end (NAME_RE), when it is all ASCII;
 * undefined when it is not.
 */
export function asciiName(s: string): boolean | undefined {
  let start = true;
  let colon = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return undefined;
    const letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
    if (start) {
      if (!letter) return false;
      start = false;
    } else if (c === 0x3a) {
      if (colon) return false;
      colon = true;
      start = true;
    } else if (!letter && !(c >= 0x30 && c <= 0x39) && c !== 0x2e && c !== 0x2d) return false;
  }
  return !start;
}

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

/** Namespace bindings in scope: a chain from the innermost declaration out to the predefined ones. */
interface Binding {
  readonly prefix: string;
  readonly uri: string;
  readonly next: Binding | undefined;
}

const PREDEFINED_CHAIN: Binding = {
  prefix: 'xml',
  uri: XML_NS,
  next: { prefix: '', uri: '', next: undefined },
};

interface OpenElement {
  qname: string;
  bindings: Binding;
}

type AT = Extract<ExiEvent, { type: 'AT' }>;

/** Parses an XML document into an EXI event sequence (SD ... ED), including NS events. */
export function parseXml(xml: string): ExiEvent[] {
  let src = xml;
  if (src.includes('\r')) src = src.replace(/\r\n?/g, '\n');
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  const events: ExiEvent[] = [{ type: 'SD' }];
  const stack: OpenElement[] = [];
  // Bindings are never changed once made: an element without declarations shares its parent's.
  let scope = PREDEFINED_CHAIN;
  let text = '';
  let rootSeen = false;
  const attrNames: string[] = [];
  const attrValues: string[] = [];
  let na: number; // attributes of the current start tag

  const flushText = () => {
    if (text === '') return;
    if (stack.length === 0) {
      if (text.trim() !== '') throw new ExiError('XML: character data outside the root element');
    } else {
      events.push({ type: 'CH', value: text });
    }
    text = '';
  };

  const resolve = (prefix: string, forAttribute: boolean, bindings: Binding): string => {
    if (prefix === '' && forAttribute) return '';
    for (let b: Binding | undefined = bindings; b; b = b.next) if (b.prefix === prefix) return b.uri;
    throw new ExiError(`XML: undeclared namespace prefix '${prefix}'`);
  };

  let i = 0;
  const n = src.length;
  while (i < n) {
    const lt = src.indexOf('<', i);
    if (lt < 0) {
      text += decodeEntities(src.slice(i), i);
      break;
    }
    if (lt > i) text += decodeEntities(src.slice(i, lt), i);
    i = lt;
    const c1 = src.charCodeAt(i + 1);
    if (c1 === 0x21 /* ! */ && src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) throw new ExiError('XML: unterminated comment');
      flushText();
      events.push({ type: 'CM', text: src.slice(i + 4, end) });
      i = end + 3;
    } else if (c1 === 0x21 && src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i + 9);
      if (end < 0) throw new ExiError('XML: unterminated CDATA section');
      if (stack.length === 0) throw new ExiError('XML: CDATA outside the root element');
      text += src.slice(i + 9, end);
      i = end + 3;
    } else if (c1 === 0x21) {
      throw new ExiUnsupportedError('DTD (document type declarations)');
    } else if (c1 === 0x3f /* ? */) {
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
    } else if (c1 === 0x2f /* / */) {
      const end = src.indexOf('>', i);
      if (end < 0) throw new ExiError('XML: unterminated end tag');
      const open = stack.length > 0 ? (stack[stack.length - 1] as OpenElement) : undefined;
      const name =
        open && end === i + 2 + open.qname.length && src.startsWith(open.qname, i + 2)
          ? open.qname
          : src.slice(i + 2, end).trim();
      flushText();
      stack.pop();
      if (!open || open.qname !== name) throw new ExiError(`XML: mismatched end tag </${name}>`);
      events.push({ type: 'EE' });
      scope = stack.length > 0 ? (stack[stack.length - 1] as OpenElement).bindings : PREDEFINED_CHAIN;
      i = end + 1;
    } else {
      // start tag
      let j = i + 1;
      for (;;) {
        const c = src.charCodeAt(j);
        if (c !== c || c === 0x2f || c === 0x3e || isJsSpace(c)) break; // NaN: end of input
        j++;
      }
      if (j === i + 1) throw new ExiError(`XML: bad start tag at offset ${i}`);
      const qname = src.slice(i + 1, j);
      if (!isName(qname)) throw new ExiError(`XML: bad element name '${qname}'`);
      na = 0;
      let hasDecls = false;
      let selfClosing = false;
      for (;;) {
        while (isSpace(src.charCodeAt(j))) j++;
        const c = src.charCodeAt(j);
        if (c !== c) throw new ExiError('XML: unterminated start tag');
        if (c === 0x3e) {
          j++;
          break;
        }
        if (c === 0x2f) {
          if (src.charCodeAt(j + 1) !== 0x3e) throw new ExiError('XML: bad start tag');
          selfClosing = true;
          j += 2;
          break;
        }
        // ([^\s=/>]+)\s*=\s*(["'])
        let k = j;
        for (;;) {
          const d = src.charCodeAt(k);
          if (d !== d || d === 0x3d || d === 0x2f || d === 0x3e || isJsSpace(d)) break;
          k++;
        }
        if (k === j) throw new ExiError(`XML: bad attribute at offset ${j}`);
        const aname = src.slice(j, k);
        while (isJsSpace(src.charCodeAt(k))) k++;
        if (src.charCodeAt(k) !== 0x3d) throw new ExiError(`XML: bad attribute at offset ${j}`);
        k++;
        while (isJsSpace(src.charCodeAt(k))) k++;
        const q = src.charCodeAt(k);
        if (q !== 0x22 && q !== 0x27) throw new ExiError(`XML: bad attribute at offset ${j}`);
        const vstart = k + 1;
        let vend = vstart;
        let lt = false;
        let tabOrNewline = false;
        for (;;) {
          const d = src.charCodeAt(vend);
          if (d === q) break;
          if (d !== d) throw new ExiError('XML: unterminated attribute value');
          if (d === 0x3c) lt = true;
          else if (d === 0x09 || d === 0x0a) tabOrNewline = true;
          vend++;
        }
        if (lt) throw new ExiError('XML: "<" in attribute value');
        for (let a = 0; a < na; a++) {
          if (attrNames[a] === aname) throw new ExiError(`XML: duplicate attribute ${aname}`);
        }
        let raw = src.slice(vstart, vend);
        if (tabOrNewline) raw = raw.replace(/[\t\n]/g, ' ');
        attrNames[na] = aname;
        attrValues[na] = decodeEntities(raw, vstart);
        na++;
        if (aname.startsWith('xmlns') && (aname.length === 5 || aname.charCodeAt(5) === 0x3a))
          hasDecls = true;
        j = vend + 1;
      }
      if (stack.length === 0 && rootSeen) throw new ExiError('XML: more than one root element');
      rootSeen = true;
      flushText();

      let bindings = scope;
      const colon = qname.indexOf(':');
      const prefix = colon < 0 ? '' : qname.slice(0, colon);
      const localName = colon < 0 ? qname : qname.slice(colon + 1);
      const se: Extract<ExiEvent, { type: 'SE' }> = { type: 'SE', uri: '', localName, prefix };
      events.push(se);
      if (hasDecls) {
        for (let a = 0; a < na; a++) {
          const an = attrNames[a] as string;
          const v = attrValues[a] as string;
          if (an === 'xmlns' || an.startsWith('xmlns:')) {
            const p = an === 'xmlns' ? '' : an.slice(6);
            if (p === 'xmlns' || (p === 'xml') !== (v === XML_NS)) {
              throw new ExiError(`XML: illegal namespace declaration ${an}="${v}"`);
            }
            if (p !== '' && v === '') throw new ExiError(`XML: cannot undeclare prefix ${p}`);
            bindings = { prefix: p, uri: v, next: bindings };
            events.push({ type: 'NS', uri: v, prefix: p, localElementNs: p === prefix });
          }
        }
      }
      se.uri = resolve(prefix, false, bindings);
      const atStart = events.length;
      for (let a = 0; a < na; a++) {
        const an = attrNames[a] as string;
        if (hasDecls && (an === 'xmlns' || an.startsWith('xmlns:'))) continue;
        const c = an.indexOf(':');
        const ap = c < 0 ? '' : an.slice(0, c);
        const al = c < 0 ? an : an.slice(c + 1);
        const au = resolve(ap, true, bindings);
        if (au === XMLNS_NS) continue;
        for (let b = atStart; b < events.length; b++) {
          const o = events[b] as AT;
          if (o.localName === al && o.uri === au) throw new ExiError(`XML: duplicate attribute {${au}}${al}`);
        }
        events.push({ type: 'AT', uri: au, localName: al, prefix: ap, value: attrValues[a] as string });
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
  let depth = 0; // preserve[depth]: xml:space="preserve" in scope
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as ExiEvent;
    if (e.type === 'SE') {
      preserve[depth + 1] = preserve[depth] as boolean;
      depth++;
    } else if (e.type === 'EE') {
      if (depth > 0) depth--;
    } else if (e.type === 'AT' && e.uri === XML_NS && e.localName === 'space') {
      preserve[depth] = e.value === 'preserve';
    } else if (e.type === 'CH' && !preserve[depth] && WS_ONLY.test(e.value)) {
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
  let changes = false;
  for (let i = 0; i < events.length; i++) {
    const t = (events[i] as ExiEvent).type;
    if (
      (t === 'CM' && !keepComments) ||
      (t === 'PI' && !keepPis) ||
      (t === 'CH' && events[i + 1]?.type === 'CH')
    ) {
      changes = true;
      break;
    }
  }
  if (!changes) return events.slice();
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

const PREDEFINED: ReadonlyMap<string, string> = predefinedBindings();

function predefinedBindings(): Map<string, string> {
  return new Map([
    ['xml', XML_NS],
    ['', ''],
  ]);
}

/**
 * Whether the UTF-16 code unit at `i` (0xD800 or above) starts an XML character: a surrogate pair, or a BMP
 * character other than U+FFFE/U+FFFF. Returns the index of the character's last unit, or -1.
 */
function highChar(s: string, i: number, c: number): number {
  if (c >= 0xe000) return c === 0xfffe || c === 0xffff ? -1 : i;
  if (c >= 0xdc00) return -1;
  const d = s.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff ? i + 1 : -1;
}

function notXml(what: string): never {
  throw new ExiError(`${what} contains a character that is not an XML 1.0 character`);
}

/**
 * Character data: `&`, `<` and `>` (so `]]>` cannot appear) and CR (which a parser would turn into LF) escaped;
 * characters that XML 1.0 cannot carry at all, not even as references (C0 controls, lone surrogates, U+FFFE,
 * U+FFFF), are an error.
 */
function escapeText(s: string): string {
  let special = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) {
      if (c === 0x0d) special = true;
      else if (c !== 0x09 && c !== 0x0a) notXml('text');
    } else if (c === 0x26 || c === 0x3c || c === 0x3e) special = true;
    else if (c >= 0xd800) {
      i = highChar(s, i, c);
      if (i < 0) notXml('text');
    }
  }
  if (!special) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/** An attribute value in double quotes: as escapeText, and `"`, tab and LF (which a parser would normalize). */
function escapeAttr(s: string): string {
  let special = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) {
      if (c === 0x09 || c === 0x0a || c === 0x0d) special = true;
      else notXml('attribute value');
    } else if (c === 0x26 || c === 0x3c || c === 0x22) special = true;
    else if (c >= 0xd800) {
      i = highChar(s, i, c);
      if (i < 0) notXml('attribute value');
    }
  }
  if (!special) return s;
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/** escapeText for strings our decoder made: their characters are XML characters already (BitReader). */
function escapeDecodedText(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x26 || c === 0x3c || c === 0x3e || c === 0x0d) {
      return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
    }
  }
  return s;
}

/** escapeAttr for strings our decoder made. */
function escapeDecodedAttr(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x26 || c === 0x3c || c === 0x22 || c === 0x09 || c === 0x0a || c === 0x0d)
      return escapeAttr(s);
  }
  return s;
}

/** A name the serializer is about to write: an NCName, or an error (never text that could close the tag). */
function checkedName(name: string, what: string): string {
  if (!isNCName(name)) throw new ExiError(`${what} '${name.slice(0, 64)}' is not an XML NCName`);
  return name;
}

/** A namespace declaration (Namespaces in XML §3): what may be bound to what. */
function checkDeclaration(prefix: string, uri: string): void {
  if (prefix !== '') checkedName(prefix, 'prefix');
  if (
    prefix === 'xmlns' ||
    uri === XMLNS_NS ||
    (prefix === 'xml') !== (uri === XML_NS) ||
    (prefix !== '' && uri === '')
  ) {
    throw new ExiError(`illegal namespace declaration of prefix '${prefix}' for '${uri.slice(0, 64)}'`);
  }
}

/**
 * Serializes an event sequence to XML. With prefixes preserved (NS events present) the original
 * prefixes and declarations are used; otherwise prefixes are generated (`ns1`, `ns2`, ...) and the
 * default namespace is used for elements.
 *
 * The events may come from an untrusted stream: every name is checked to be an NCName, every declaration to be
 * allowed, attributes to be unique, comments and PIs to be well-formed, text and values to be XML characters
 * (escaped as needed). So the text is well-formed XML with exactly the elements and attributes of the events,
 * or this throws `ExiError`.
 */
export function serializeXml(events: readonly ExiEvent[]): string {
  return writeXml(events, false);
}

/**
 * serializeXml; `decoded`: the events come from our decoder, whose names (string tables: NCNames; schema: the
 * compiled schema's), comments, PIs and characters are checked already (strings.ts, names.ts, bits.ts), so only
 * what it does not check is checked here (declarations, attributes that would be declarations, duplicates).
 */
export function writeXml(events: readonly ExiEvent[], decoded: boolean): string {
  let out = '';
  // Scopes are never changed once made: an element without declarations shares its parent's.
  const scopes: ReadonlyMap<string, string>[] = [PREDEFINED];
  const names: string[] = [];
  let generated = 0;
  let i = 0;
  const attrs: Extract<ExiEvent, { type: 'AT' }>[] = [];
  while (i < events.length) {
    const e = events[i] as ExiEvent;
    i++;
    switch (e.type) {
      case 'SD':
      case 'ED':
        break;
      case 'SE': {
        const parent = scopes[scopes.length - 1] as ReadonlyMap<string, string>;
        let scope: ReadonlyMap<string, string> = parent;
        let own: Map<string, string> | undefined;
        let decls: Map<string, string> | undefined;
        const declare = (prefix: string, uri: string) => {
          if (!decls) decls = new Map();
          if (!own) {
            own = new Map(parent);
            scope = own;
          }
          decls.set(prefix, uri);
          own.set(prefix, uri);
        };
        attrs.length = 0;
        while (i < events.length) {
          const n = events[i] as ExiEvent;
          if (n.type === 'NS') {
            checkDeclaration(n.prefix, n.uri);
            if (!decls?.has(n.prefix)) declare(n.prefix, n.uri);
          } else if (n.type === 'AT') {
            attrs.push(n);
          } else break;
          i++;
        }
        if (!decoded) checkedName(e.localName, 'element name');
        if (e.uri === XMLNS_NS || e.uri === XML_NS) throw new ExiError(`element in namespace ${e.uri}`);
        if (attrs.length > 1) checkUnique(attrs);
        let prefix = e.prefix;
        if (prefix !== undefined && scope.get(prefix) !== e.uri) prefix = undefined;
        if (prefix === undefined) {
          if (scope.get('') === e.uri) prefix = '';
          else if (e.uri === '' || !decls?.has('')) {
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
        for (let a = 0; a < attrs.length; a++) {
          const at = attrs[a] as Extract<ExiEvent, { type: 'AT' }>;
          if (!decoded) checkedName(at.localName, 'attribute name');
          // Either would be read back as a namespace declaration, not as this attribute.
          if (at.uri === XMLNS_NS || (at.uri === '' && at.localName === 'xmlns')) {
            throw new ExiError('attribute in the xmlns namespace');
          }
          let ap = '';
          if (at.uri === XML_NS) ap = 'xml';
          else if (at.uri !== '') {
            ap =
              at.prefix !== undefined && at.prefix !== '' && scope.get(at.prefix) === at.uri ? at.prefix : '';
            if (ap === '') {
              ap = findPrefix(scope, at.uri) ?? '';
              if (ap === '') {
                do ap = `ns${++generated}`;
                while (scope.has(ap));
                declare(ap, at.uri);
              }
            }
          }
          attrText += ` ${ap === '' ? at.localName : `${ap}:${at.localName}`}="${decoded ? escapeDecodedAttr(at.value) : escapeAttr(at.value)}"`;
        }
        let declText = '';
        if (decls) {
          for (const [p, u] of decls)
            declText += ` ${p === '' ? 'xmlns' : `xmlns:${p}`}="${decoded ? escapeDecodedAttr(u) : escapeAttr(u)}"`;
        }
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
        out += decoded ? escapeDecodedText(e.value) : escapeText(e.value);
        break;
      case 'CM':
        checkComment(e.text);
        escapeText(e.text); // only its characters are checked: a comment has no references
        out += `<!--${e.text}-->`;
        break;
      case 'PI':
        checkPi(e.target, e.data);
        escapeText(e.data);
        out += e.data === '' ? `<?${e.target}?>` : `<?${e.target} ${e.data}?>`;
        break;
      case 'NS':
      case 'AT':
        throw new ExiError(`${e.type} event outside a start tag`);
    }
  }
  return out;
}

/** No two attributes of a start tag with the same expanded name (XML 1.0 §3.1, Namespaces in XML §6.3). */
function checkUnique(attrs: readonly Extract<ExiEvent, { type: 'AT' }>[]): void {
  if (attrs.length <= 8) {
    for (let a = 1; a < attrs.length; a++) {
      const x = attrs[a] as Extract<ExiEvent, { type: 'AT' }>;
      for (let b = 0; b < a; b++) {
        const y = attrs[b] as Extract<ExiEvent, { type: 'AT' }>;
        if (x.localName === y.localName && x.uri === y.uri)
          throw new ExiError(`duplicate attribute ${x.localName}`);
      }
    }
    return;
  }
  const seen = new Set<string>();
  for (const x of attrs) {
    const k = `${x.localName}\u0000${x.uri}`;
    if (seen.has(k)) throw new ExiError(`duplicate attribute ${x.localName}`);
    seen.add(k);
  }
}

function findPrefix(scope: ReadonlyMap<string, string>, uri: string): string | undefined {
  for (const [p, u] of scope) if (p !== '' && u === uri) return p;
  return undefined;
}
