/**
 * EXI body encoder and decoder for schema-informed streams (strict=false). Elements declared
 * globally in the schema use the schema-informed grammars of `grammar.ts`; all other elements use
 * the built-in grammars (§8.4.3), which learn as in schema-less mode. Typed values follow
 * `datatypes.ts`. All four alignments: with (pre-)compression, values go to channels as in
 * schema-less mode (§9); xsi:type and xsi:nil values stay in the structure channel.
 *
 * Out of scope (ExiUnsupportedError): preserve.prefixes, preserve.dtd, preserve.lexicalValues,
 * selfContained, strict=true, fragments, xsi:nil on elements with built-in grammars, xsi:type or
 * xsi:nil after other attributes of a schema-informed element (the encoder sorts them first), typed
 * binary values in streams (the encoder writes binary values as schema-invalid, i.e. untyped).
 */
import { BitReader, BitWriter, bitsFor, ExiError, ExiUnsupportedError } from '../bits.js';
import { BodyReader, BodyWriter } from '../body-stream.js';
import { readCommentOrPi } from '../limits.js';
import {
  type CodeTable,
  type ElementGrammar,
  findGeneric,
  findLearned,
  findLearnedQName,
  Grammars,
  type LearnedTerm,
  learnedTerm,
  readCode,
  type Term,
  Terms,
  writeCode,
  writeFirst,
} from '../grammars.js';
import type { CodecState } from '../session.js';
import { qnameKey, StringTables } from '../strings.js';
import { type ExiEvent, type ResolvedOptions, XSI_NS } from '../types.js';
import { prepareTyped, readTyped } from './datatypes.js';
import { readSchemaCode, SchemaGrammars, type SProd, type SState, writeSchemaCode } from './grammar.js';
import {
  builtinTypeDefinition,
  type CompiledSchema,
  compareQName,
  type Datatype,
  type ElementDecl,
  XSD_NS,
} from './xsd.js';

type SE = Extract<ExiEvent, { type: 'SE' }>;

type Frame =
  | { mode: 'b'; g: ElementGrammar; key: string; inContent: boolean }
  | { mode: 's'; state: SState; key: string };

/** Rejects option combinations the schema-informed coder does not implement. */
export function checkSchemaOptions(opts: ResolvedOptions): void {
  if (opts.strict) throw new ExiUnsupportedError('schema-informed grammars with strict=true');
  if (opts.preserve.prefixes)
    throw new ExiUnsupportedError('schema-informed grammars with preserve.prefixes');
  if (opts.preserve.dtd) throw new ExiUnsupportedError('schema-informed grammars with preserve.dtd');
  if (opts.preserve.lexicalValues) {
    // Values would have to be strings with the restricted character sets of §7.1.10.1 Table 7-3.
    throw new ExiUnsupportedError('schema-informed grammars with preserve.lexicalValues');
  }
  if (opts.selfContained) throw new ExiUnsupportedError('schema-informed grammars with selfContained');
}

const grammarCache = new WeakMap<
  CompiledSchema,
  Map<string, { grammars: SchemaGrammars; globals: ElementDecl[] }>
>();

/** State shared by encoder and decoder. */
class SchemaContext {
  readonly tables: StringTables;
  readonly builtins: Grammars;
  readonly grammars: SchemaGrammars;
  readonly globals: ElementDecl[];
  readonly stack: Frame[] = [];
  docEnded = false;
  /** Whether DocContent/DocEnd have a second level (CM/PI; DT is not supported). */
  readonly hasDocSecond: boolean;
  readonly third: ('CM' | 'PI')[] = [];

  constructor(
    readonly opts: ResolvedOptions,
    readonly schema: CompiledSchema,
    session?: CodecState,
  ) {
    checkSchemaOptions(opts);
    if (opts.fragment) throw new ExiUnsupportedError('schema-informed fragments');
    if (session) {
      // An EXI session's tables (pre-populated with this schema's entries once) and built-in grammars.
      this.tables = session.tables;
      this.builtins = session.grammars;
    } else {
      this.tables = new StringTables(opts);
      this.tables.addSchemaEntries(schema.localNames);
      this.builtins = new Grammars(opts);
    }
    // Schema-informed grammars never change: build them once per schema and fidelity options.
    const key = `${+opts.preserve.comments}${+opts.preserve.pis}${+opts.preserve.prefixes}${+opts.preserve.dtd}${+opts.selfContained}`;
    let perSchema = grammarCache.get(schema);
    if (!perSchema) {
      perSchema = new Map();
      grammarCache.set(schema, perSchema);
    }
    let cached = perSchema.get(key);
    if (!cached) {
      cached = {
        grammars: new SchemaGrammars(opts),
        globals: [...schema.globalElements.values()].sort(compareQName),
      };
      perSchema.set(key, cached);
    }
    this.grammars = cached.grammars;
    this.globals = cached.globals;
    if (opts.preserve.comments) this.third.push('CM');
    if (opts.preserve.pis) this.third.push('PI');
    this.hasDocSecond = this.third.length > 0;
  }

  get top(): Frame | undefined {
    const n = this.stack.length;
    return n > 0 ? this.stack[n - 1] : undefined; // stack[-1] would be a slow property lookup
  }

  /** Opens an element reached through SE(qname) of a built-in grammar or any SE(*). */
  frameFor(uri: string, localName: string, key: string): Frame {
    const decl = this.schema.globalElements.get(key);
    if (decl) return { mode: 's', state: this.grammars.element(decl), key };
    return { mode: 'b', g: this.builtins.element(uri, localName, key), key, inContent: false };
  }

  /** First state of the grammar of the type named by an xsi:type value, if the schema knows it. */
  typeState(uri: string, localName: string): SState | undefined {
    const key = qnameKey(uri, localName);
    const def = uri === XSD_NS ? builtinTypeDefinition(localName) : this.schema.types.get(key);
    return def ? this.grammars.typeGrammar(key, def) : undefined;
  }

  /** Replaces the current element's grammar by a type's grammar (xsi:type). */
  castTop(state: SState): void {
    const top = this.top;
    if (top) this.stack[this.stack.length - 1] = { mode: 's', state, key: top.key };
  }

  /** Moves the parent past a child element start. */
  enter(frame: Frame): void {
    const top = this.top;
    if (top?.mode === 'b') top.inContent = true;
    else if (!top) this.docEnded = true;
    this.stack.push(frame);
  }

  // DocContent: SE(G0..Gn-1) SE(*) [CM PI]; DocEnd: ED [CM PI]
  docCodeWidth(): number {
    return bitsFor(this.globals.length + 1 + (this.hasDocSecond ? 1 : 0));
  }
  docEndWidth(): number {
    return bitsFor(1 + (this.hasDocSecond ? 1 : 0));
  }
}

function isStringLike(dt: Datatype): boolean {
  return dt.kind === 'string';
}

/** Attribute order of schema-informed start tags: xsi:type, xsi:nil, then by local name and URI. */
function compareAttributes(
  a: { uri: string; localName: string },
  b: { uri: string; localName: string },
): number {
  if (a.uri === XSI_NS || b.uri === XSI_NS) {
    const rank = (x: typeof a) =>
      x.uri === XSI_NS ? (x.localName === 'type' ? 0 : x.localName === 'nil' ? 1 : 2) : 2;
    const d = rank(a) - rank(b);
    if (d !== 0) return d;
  }
  return compareQName(a, b);
}

/** Index of the SE(qname) / AT(qname) production of a state for a qualified name, or -1. */
function findProd(s: SState, t: 'SE' | 'AT', uri: string, localName: string): number {
  const from = (t === 'SE' ? s.seByName : s.atByName).get(localName);
  if (from === undefined) return -1;
  const prods = s.prods;
  for (let k = from; k < prods.length; k++) {
    const p = prods[k] as SProd;
    if (p.t === t && p.localName === localName && p.uri === uri) return k;
  }
  return -1;
}

/**
 * Sorts each start tag's attributes the way schema-informed grammars expect them (NS events, which the
 * schema-informed coder ignores, go after them). Returns `events` itself when they are in order already.
 */
function sortAttributes(events: readonly ExiEvent[]): readonly ExiEvent[] {
  let out: ExiEvent[] | undefined;
  let i = 0;
  while (i < events.length) {
    const e = events[i] as ExiEvent;
    i++;
    if (e.type !== 'SE') continue;
    const start = i;
    let prev: Extract<ExiEvent, { type: 'AT' }> | undefined;
    let sorted = true;
    while (i < events.length) {
      const n = events[i] as ExiEvent;
      if (n.type === 'AT') {
        if (prev && compareAttributes(prev, n) > 0) sorted = false;
        prev = n;
      } else if (n.type !== 'NS') break;
      i++;
    }
    if (sorted) continue;
    // Insertion sort (stable, like Array.prototype.sort): runs are short.
    if (!out) out = events.slice();
    let k = start;
    for (let j = start; j < i; j++) {
      const x = events[j] as ExiEvent;
      if (x.type !== 'AT') continue;
      let m = k++;
      while (m > start && compareAttributes(out[m - 1] as Extract<ExiEvent, { type: 'AT' }>, x) > 0) {
        out[m] = out[m - 1] as ExiEvent;
        m--;
      }
      out[m] = x;
    }
    for (let j = start; j < i; j++) {
      const x = events[j] as ExiEvent;
      if (x.type !== 'AT') out[k++] = x;
    }
  }
  return out ?? events;
}

type ValueWriter = (w: BitWriter) => void;

export class SchemaBodyEncoder extends BodyWriter<ValueWriter> {
  private readonly c: SchemaContext;

  /** `headerWriter` holds the header; the body continues in it unless values are reordered. */
  constructor(opts: ResolvedOptions, schema: CompiledSchema, headerWriter: BitWriter, session?: CodecState) {
    super(opts, headerWriter);
    this.c = new SchemaContext(opts, schema, session);
  }

  /** A value: written now, or (pre-)compression: queued in its channel (§9). */
  private value(key: string, write: ValueWriter): void {
    if (!this.reordered) write(this.w);
    else this.queue(key, write);
  }

  protected writeChannel(w: BitWriter, writers: ValueWriter[]): void {
    for (const write of writers) write(w);
  }

  private str(key: string, value: string): void {
    const tables = this.c.tables;
    if (!this.reordered) tables.writeValue(this.w, key, value);
    else this.value(key, (w) => tables.writeValue(w, key, value));
  }

  /** Resolved xsi:type values (namespace bindings are only known while reading the events). */
  private readonly xsiTypes = new Map<ExiEvent, { uri: string; localName: string }>();

  encode(events: readonly ExiEvent[]): void {
    if (events.some((e) => e.type === 'AT' && e.uri === XSI_NS && e.localName === 'type'))
      this.resolveXsiTypes(events);
    for (const e of sortAttributes(events)) this.event(e);
  }

  private resolveXsiTypes(events: readonly ExiEvent[]): void {
    const scopes: Map<string, string>[] = [new Map([['', '']])];
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as ExiEvent;
      if (e.type === 'SE') {
        const scope = new Map(scopes.at(-1));
        for (let j = i + 1; j < events.length; j++) {
          const n = events[j] as ExiEvent;
          if (n.type === 'NS') scope.set(n.prefix, n.uri);
          else if (n.type !== 'AT') break;
        }
        scopes.push(scope);
      } else if (e.type === 'EE') scopes.pop();
      else if (e.type === 'AT' && e.uri === XSI_NS && e.localName === 'type') {
        // A QName value; an unbound prefix gives URI "" and the whole value as local name (as EXIficient).
        const v = e.value.trim();
        const colon = v.indexOf(':');
        const prefix = colon < 0 ? '' : v.slice(0, colon);
        const uri = (scopes.at(-1) as Map<string, string>).get(prefix);
        this.xsiTypes.set(
          e,
          uri === undefined
            ? { uri: '', localName: v }
            : { uri, localName: colon < 0 ? v : v.slice(colon + 1) },
        );
      }
    }
  }

  /**
   * xsi:type (§8.5.4.4.1): AT(xsi:type) on the second level of a schema-informed first state, or
   * AT(xsi:type) / AT(*) of a built-in grammar; the QName value goes to the structure channel, and
   * the element continues with the type's grammar when the schema (or XML Schema) defines it.
   */
  private xsiType(top: Frame, e: Extract<ExiEvent, { type: 'AT' }>): void {
    const c = this.c;
    const w = this.w;
    const q = this.xsiTypes.get(e) ?? { uri: '', localName: e.value };
    const key = qnameKey(XSI_NS, 'type');
    if (top.mode === 's') {
      if (top.state.kind !== 'first') throw new ExiUnsupportedError('xsi:type after other attributes');
      writeSchemaCode(w, top.state, { level: 2, item: 'XSI_TYPE' });
    } else {
      if (top.inContent) throw new ExiError('attribute xsi:type outside a start tag');
      const t = top.g.startTagContent;
      const learned = findLearned(t, 'AT', key);
      if (learned >= 0) writeCode(w, t, { level: 1, index: learned });
      else {
        const pos = findGeneric(t, Terms.AT_ANY);
        if (!pos) throw new ExiError('AT is not allowed here');
        writeCode(w, t, pos);
        this.qname(XSI_NS, 'type');
        top.g.learnStartTag(learnedTerm('AT', XSI_NS, 'type', key));
      }
    }
    this.qname(q.uri, q.localName);
    const state = c.typeState(q.uri, q.localName);
    if (state) c.castTop(state);
  }

  private qname(uri: string, localName: string): void {
    const id = this.c.tables.writeUri(this.w, uri);
    this.c.tables.writeLocalName(this.w, id, localName);
  }

  /** `prepared`: `prepareTyped(dt, value)` if the caller has it already. */
  private typed(dt: Datatype, key: string, value: string, prepared?: ValueWriter): void {
    if (dt.kind === 'string') {
      const tables = this.c.tables;
      if (!this.reordered) tables.writeValue(this.w, key, value, dt.charset);
      else this.value(key, (w) => tables.writeValue(w, key, value, dt.charset));
      return;
    }
    if (dt.kind === 'binary') throw new ExiUnsupportedError('binary (base64Binary/hexBinary) values');
    const p = prepared ?? prepareTyped(dt, value);
    if (!p) throw new ExiUnsupportedError(`schema-invalid value '${value}' (${dt.kind})`);
    this.value(key, p);
  }

  private cmpi(e: Extract<ExiEvent, { type: 'CM' | 'PI' }>): void {
    const w = this.w;
    if (e.type === 'CM') w.writeString(e.text);
    else {
      w.writeString(e.target);
      w.writeString(e.data);
    }
  }

  private event(e: ExiEvent): void {
    if (this.finished) throw new ExiError(`event ${e.type} after ED`);
    const c = this.c;
    const top = c.top;
    if (e.type === 'SD' || e.type === 'NS') return;
    if ((e.type === 'CM' && !c.opts.preserve.comments) || (e.type === 'PI' && !c.opts.preserve.pis)) return;
    if (e.type === 'AT' && e.uri === XSI_NS && (e.localName === 'type' || e.localName === 'nil')) {
      if (e.localName === 'nil' && top?.mode === 's') {
        this.xsiNil(top, e.value);
        return;
      }
      if (e.localName === 'type' && top) {
        this.xsiType(top, e);
        return;
      }
      throw new ExiUnsupportedError(`xsi:${e.localName} attributes`);
    }
    if (!top) {
      this.docEvent(e);
      return;
    }
    if (top.mode === 'b') this.builtinEvent(top, e);
    else this.schemaEvent(top, e);
  }

  /**
   * xsi:nil on a schema-informed element (§8.5.4.4.1): "true" is AT(xsi:nil) on the second level
   * with a Boolean value in the structure channel, and the element continues in its TypeEmpty
   * grammar; "false" is left out, as EXIficient does (it changes nothing); anything else is
   * AT(*) [untyped value].
   */
  private xsiNil(top: Extract<Frame, { mode: 's' }>, value: string): void {
    const s = top.state;
    const v = value.trim();
    if (v === 'false' || v === '0') return;
    if (s.kind === 'element') throw new ExiError('xsi:nil outside a start tag');
    if (v !== 'true' && v !== '1') {
      writeSchemaCode(this.w, s, { level: 2, item: 'AT_INVALID', third: s.nAt });
      this.qname(XSI_NS, 'nil');
      this.str(qnameKey(XSI_NS, 'nil'), value);
      return;
    }
    if (s.kind !== 'first') throw new ExiUnsupportedError('xsi:nil after other attributes');
    writeSchemaCode(this.w, s, { level: 2, item: 'XSI_NIL' });
    this.w.writeBoolean(true);
    top.state = this.c.grammars.typeEmpty(s);
  }

  private docEvent(e: ExiEvent): void {
    const c = this.c;
    const w = this.w;
    const n = c.globals.length;
    switch (e.type) {
      case 'SE': {
        if (c.docEnded) throw new ExiError('a second root element');
        const key = qnameKey(e.uri, e.localName);
        const i = c.globals.findIndex((g) => g.uri === e.uri && g.localName === e.localName);
        if (i >= 0) {
          w.writeNBit(i, c.docCodeWidth());
          c.enter({ mode: 's', state: c.grammars.element(c.globals[i] as ElementDecl), key });
        } else {
          w.writeNBit(n, c.docCodeWidth());
          this.qname(e.uri, e.localName);
          c.enter(c.frameFor(e.uri, e.localName, key));
        }
        return;
      }
      case 'CM':
      case 'PI': {
        const width = c.docEnded ? c.docEndWidth() : c.docCodeWidth();
        w.writeNBit(c.docEnded ? 1 : n + 1, width);
        w.writeNBit(c.third.indexOf(e.type), bitsFor(c.third.length));
        this.cmpi(e);
        return;
      }
      case 'ED':
        if (!c.docEnded) throw new ExiError('ED before the root element');
        w.writeNBit(0, c.docEndWidth());
        this.finished = true;
        return;
      case 'CH':
        if (e.value === '') return;
        throw new ExiError('character data outside the root element');
      default:
        throw new ExiError(`${e.type} outside the root element`);
    }
  }

  /**
   * SE(qname) / AT(qname) in a built-in grammar: the learned production, or the generic one followed by the
   * qualified name (which is then learned). Returns the qualified name's key.
   */
  private builtinQName(
    t: CodeTable,
    kind: 'SE' | 'AT',
    uri: string,
    localName: string,
    generic: (term: Term, what: string) => unknown,
    learn: (term: Term) => void,
  ): string {
    const learned = findLearnedQName(t, kind, uri, localName);
    if (learned >= 0) {
      writeFirst(this.w, t, learned);
      return (t.first[learned] as LearnedTerm).key;
    }
    const key = qnameKey(uri, localName);
    generic(kind === 'SE' ? Terms.SE_ANY : Terms.AT_ANY, kind);
    this.qname(uri, localName);
    learn(learnedTerm(kind, uri, localName, key));
    return key;
  }

  private builtinEvent(top: Extract<Frame, { mode: 'b' }>, e: ExiEvent): void {
    const c = this.c;
    const w = this.w;
    const t = top.inContent ? top.g.elementContent : top.g.startTagContent;
    const generic = (term: Term, what: string) => {
      const pos = findGeneric(t, term);
      if (!pos) throw new ExiError(`${what} is not allowed here`);
      writeCode(w, t, pos);
      return pos;
    };
    const learn = (term: Term) => {
      if (top.inContent) top.g.learnContent(term);
      else top.g.learnStartTag(term);
    };
    switch (e.type) {
      case 'SE': {
        const key = this.builtinQName(t, 'SE', e.uri, e.localName, generic, learn);
        c.enter(c.frameFor(e.uri, e.localName, key));
        return;
      }
      case 'AT': {
        if (top.inContent) throw new ExiError(`attribute ${e.localName} outside a start tag`);
        this.str(this.builtinQName(t, 'AT', e.uri, e.localName, generic, learn), e.value);
        return;
      }
      case 'CH': {
        if (e.value === '') return;
        const i = t.first.indexOf(Terms.CH);
        if (i >= 0) writeCode(w, t, { level: 1, index: i });
        else {
          generic(Terms.CH, 'CH');
          learn(Terms.CH);
        }
        top.inContent = true;
        this.str(top.key, e.value);
        return;
      }
      case 'EE': {
        const pos = generic(Terms.EE, 'EE');
        if (pos.level !== 1) top.g.learnStartTag(Terms.EE);
        c.stack.pop();
        return;
      }
      case 'CM':
      case 'PI':
        generic(e.type === 'CM' ? Terms.CM : Terms.PI, e.type);
        this.cmpi(e);
        top.inContent = true;
        return;
      default:
        throw new ExiError(`${e.type} inside an element`);
    }
  }

  private schemaEvent(top: Extract<Frame, { mode: 's' }>, e: ExiEvent): void {
    const c = this.c;
    const w = this.w;
    const s = top.state;
    switch (e.type) {
      case 'SE': {
        const prods = s.prods;
        const i = findProd(s, 'SE', e.uri, e.localName);
        if (i >= 0) {
          const p = prods[i] as Extract<SProd, { t: 'SE' }>;
          writeSchemaCode(w, s, { level: 1, index: i });
          top.state = p.next;
          c.enter({ mode: 's', state: c.grammars.element(p.decl), key: p.key });
          return;
        }
        const key = qnameKey(e.uri, e.localName);
        const ns = prods.findIndex((p) => p.t === 'SEuri' && p.uri === e.uri);
        if (ns >= 0) {
          // SE(uri:*): the local name only, in the URI's partition.
          writeSchemaCode(w, s, { level: 1, index: ns });
          c.tables.writeLocalName(w, c.tables.uriId(e.uri), e.localName);
          top.state = (prods[ns] as Extract<SProd, { t: 'SEuri' }>).next;
          c.enter(c.frameFor(e.uri, e.localName, key));
          return;
        }
        const any = prods.findIndex((p) => p.t === 'SE*');
        if (any >= 0) {
          writeSchemaCode(w, s, { level: 1, index: any });
          this.qname(e.uri, e.localName);
          top.state = (s.prods[any] as Extract<SProd, { t: 'SE*' }>).next;
          c.enter(c.frameFor(e.uri, e.localName, key));
        } else {
          writeSchemaCode(w, s, { level: 2, item: 'SE*' });
          this.qname(e.uri, e.localName);
          top.state = s.content2;
          c.enter(c.frameFor(e.uri, e.localName, key));
        }
        return;
      }
      case 'AT': {
        if (s.kind === 'element') throw new ExiError(`attribute ${e.localName} outside a start tag`);
        const prods = s.prods;
        const i = findProd(s, 'AT', e.uri, e.localName);
        if (i >= 0) {
          const p = prods[i] as Extract<SProd, { t: 'AT' }>;
          const prepared = isStringLike(p.dt) ? undefined : prepareTyped(p.dt, e.value);
          if (!isStringLike(p.dt) && !prepared) {
            // Schema-invalid value: AT(qname) [untyped value], third level = the production's index
            // among the state's AT(qname) productions (which come first).
            writeSchemaCode(w, s, { level: 2, item: 'AT_INVALID', third: i });
            this.str(p.key, e.value);
          } else {
            writeSchemaCode(w, s, { level: 1, index: i });
            this.typed(p.dt, p.key, e.value, prepared);
          }
          top.state = p.next;
        } else {
          const key = qnameKey(e.uri, e.localName);
          const any = s.prods.findIndex((p) => p.t === 'AT*');
          writeSchemaCode(w, s, any >= 0 ? { level: 1, index: any } : { level: 2, item: 'AT*' });
          this.qname(e.uri, e.localName);
          this.str(key, e.value);
        }
        return;
      }
      case 'CH': {
        if (e.value === '') return;
        const i = s.prods.findIndex((p) => p.t === 'CH');
        const p = s.prods[i] as Extract<SProd, { t: 'CH' }> | undefined;
        const prepared = p && !isStringLike(p.dt) ? prepareTyped(p.dt, e.value) : undefined;
        if (p && (isStringLike(p.dt) || prepared)) {
          writeSchemaCode(w, s, { level: 1, index: i });
          this.typed(p.dt, top.key, e.value, prepared);
          top.state = p.next;
        } else {
          // Undeclared or schema-invalid character data: CH [untyped value] (§8.5.4.4.1).
          writeSchemaCode(w, s, { level: 2, item: 'CH' });
          this.str(top.key, e.value);
          top.state = s.content2;
        }
        return;
      }
      case 'EE': {
        if (!s.hasEE) {
          // Undeclared EE, e.g. an empty element whose simple content is a string (EXIficient
          // writes CH("") there only in strict mode).
          writeSchemaCode(w, s, { level: 2, item: 'EE' });
        } else {
          writeSchemaCode(w, s, { level: 1, index: s.ee });
        }
        c.stack.pop();
        return;
      }
      case 'CM':
      case 'PI':
        writeSchemaCode(w, s, { level: 2, item: 'CMPI', third: s.third.indexOf(e.type) });
        this.cmpi(e);
        if (s.kind !== 'element') top.state = s.content2;
        return;
      default:
        throw new ExiError(`${e.type} inside an element`);
    }
  }
}

type ValueEvent = Extract<ExiEvent, { type: 'AT' | 'CH' }>;
interface PendingValue {
  e: ValueEvent;
  read: (r: BitReader) => string;
}

export class SchemaBodyDecoder extends BodyReader<PendingValue> {
  private readonly c: SchemaContext;

  /** `headerReader` is positioned right after the header. */
  constructor(
    opts: ResolvedOptions,
    schema: CompiledSchema,
    bytes: Uint8Array,
    headerReader: BitReader,
    session?: CodecState,
  ) {
    super(opts, bytes, headerReader);
    this.c = new SchemaContext(opts, schema, session);
    this.c.tables.budget = this.budget;
  }

  /** Pushes a value event; its value is read now, or with its block's channels (§9). */
  private value(events: ExiEvent[], e: ValueEvent, key: string, read: (r: BitReader) => string): void {
    events.push(e);
    if (!this.reordered) {
      const v = read(this.r);
      this.budget.text(v.length);
      e.value = v;
    } else this.queue(key, { e, read });
  }

  protected readChannel(r: BitReader, items: PendingValue[]): void {
    for (const it of items) {
      const v = it.read(r);
      this.budget.text(v.length);
      it.e.value = v;
    }
  }

  /**
   * Counts the events one step of `decode` added (values are counted when they are read, comments and PIs by
   * `readCommentOrPi`).
   */
  private count(events: readonly ExiEvent[], from: number): void {
    const budget = this.budget;
    for (let i = from; i < events.length; i++) {
      const e = events[i] as ExiEvent;
      if (e.type === 'SE') {
        budget.event(e.localName.length);
        budget.depth(this.c.stack.length);
      } else if (e.type === 'AT') budget.event(e.localName.length);
      else if (e.type === 'NS') budget.event(e.prefix.length);
      else if (e.type !== 'CM' && e.type !== 'PI') budget.event(0);
    }
  }

  private str(events: ExiEvent[], e: ValueEvent, key: string): void {
    const tables = this.c.tables;
    this.value(events, e, key, (r) => tables.readValue(r, key));
  }

  private qname(typeName = false): { uri: string; localName: string; key: string } {
    const id = this.c.tables.readUri(this.r);
    const uri = this.c.tables.uri(id);
    const localName = this.c.tables.readLocalName(this.r, id, typeName);
    return { uri, localName, key: qnameKey(uri, localName) };
  }

  private typed(events: ExiEvent[], e: ValueEvent, dt: Datatype, key: string): void {
    const tables = this.c.tables;
    if (dt.kind === 'string') this.value(events, e, key, (r) => tables.readValue(r, key, dt.charset));
    else if (dt.kind === 'binary') throw new ExiUnsupportedError('binary (base64Binary/hexBinary) values');
    else this.value(events, e, key, (r) => readTyped(r, dt));
  }

  private cmpi(kind: 'CM' | 'PI'): ExiEvent {
    return readCommentOrPi(this.r, kind, this.budget);
  }

  decode(): ExiEvent[] {
    const events: ExiEvent[] = [{ type: 'SD' }];
    const c = this.c;
    for (;;) {
      const r = this.r;
      const top = c.top;
      const from = events.length;
      if (!top) {
        const n = c.globals.length;
        if (!c.docEnded) {
          const code = r.readNBit(c.docCodeWidth());
          if (code < n) {
            const decl = c.globals[code] as ElementDecl;
            const key = qnameKey(decl.uri, decl.localName);
            events.push({ type: 'SE', uri: decl.uri, localName: decl.localName });
            c.enter({ mode: 's', state: c.grammars.element(decl), key });
          } else if (code === n) {
            const q = this.qname();
            events.push({ type: 'SE', uri: q.uri, localName: q.localName });
            c.enter(c.frameFor(q.uri, q.localName, q.key));
          } else if (code === n + 1 && c.hasDocSecond) {
            events.push(this.cmpi(c.third[r.readNBit(bitsFor(c.third.length))] as 'CM' | 'PI'));
          } else throw new ExiError(`invalid event code ${code}`);
          this.count(events, from);
        } else {
          const code = r.readNBit(c.docEndWidth());
          if (code === 0) {
            if (this.reordered) this.closeBlock(true);
            events.push({ type: 'ED' });
            return events;
          }
          events.push(this.cmpi(c.third[r.readNBit(bitsFor(c.third.length))] as 'CM' | 'PI'));
        }
        continue;
      }
      if (top.mode === 'b') this.builtin(top, events);
      else this.schemaInformed(top, events);
      this.count(events, from);
    }
  }

  private builtin(top: Extract<Frame, { mode: 'b' }>, events: ExiEvent[]): void {
    const c = this.c;
    const t = top.inContent ? top.g.elementContent : top.g.startTagContent;
    const term = readCode(this.r, t);
    const learn = (x: Term) => {
      if (top.inContent) top.g.learnContent(x);
      else top.g.learnStartTag(x);
    };
    switch (term.kind) {
      case 'SE':
      case 'SE*': {
        let q: { uri: string; localName: string; key: string };
        if (term.kind === 'SE') q = { uri: term.uri, localName: term.localName, key: term.key };
        else {
          q = this.qname();
          learn(learnedTerm('SE', q.uri, q.localName, q.key));
        }
        events.push({ type: 'SE', uri: q.uri, localName: q.localName });
        c.enter(c.frameFor(q.uri, q.localName, q.key));
        return;
      }
      case 'AT':
      case 'AT*': {
        let q: { uri: string; localName: string; key: string };
        if (term.kind === 'AT') q = { uri: term.uri, localName: term.localName, key: term.key };
        else {
          q = this.qname();
          if (q.uri === XSI_NS && q.localName === 'nil') throw new ExiUnsupportedError('xsi:nil attributes');
          top.g.learnStartTag(learnedTerm('AT', q.uri, q.localName, q.key));
        }
        if (q.uri === XSI_NS && q.localName === 'type') this.xsiTypeValue(events);
        else this.str(events, { type: 'AT', uri: q.uri, localName: q.localName, value: '' }, q.key);
        return;
      }
      case 'CH':
        if (!t.first.includes(term)) learn(Terms.CH);
        top.inContent = true;
        this.str(events, { type: 'CH', value: '' }, top.key);
        return;
      case 'EE':
        if (!top.inContent && !t.first.includes(term)) top.g.learnStartTag(Terms.EE);
        c.stack.pop();
        events.push({ type: 'EE' });
        return;
      case 'CM':
      case 'PI':
        events.push(this.cmpi(term.kind));
        top.inContent = true;
        return;
      default:
        throw new ExiUnsupportedError(`${term.kind} events in schema-informed streams`);
    }
  }

  private typePrefixes = 0;

  /**
   * The QName value of xsi:type (structure channel), as an AT event with a prefixed value and an
   * NS event declaring that prefix; the element continues with the type's grammar if known.
   */
  private xsiTypeValue(events: ExiEvent[]): void {
    const q = this.qname(true);
    let value = q.localName;
    if (q.uri !== '') {
      const prefix = `xt${++this.typePrefixes}`;
      events.push({ type: 'NS', uri: q.uri, prefix, localElementNs: false });
      value = `${prefix}:${q.localName}`;
    }
    events.push({ type: 'AT', uri: XSI_NS, localName: 'type', value });
    const state = this.c.typeState(q.uri, q.localName);
    if (state) this.c.castTop(state);
  }

  private undeclaredAttribute(events: ExiEvent[]): void {
    const q = this.qname();
    if (q.uri === XSI_NS && (q.localName === 'type' || q.localName === 'nil')) {
      throw new ExiUnsupportedError(`xsi:${q.localName} attributes`);
    }
    this.str(events, { type: 'AT', uri: q.uri, localName: q.localName, value: '' }, q.key);
  }

  /**
   * EE, AT(*) and SE(*) read the same whether they are first-level productions (SE(*) from a wildcard) or
   * second-level ones of strict=false; only the state after SE(*) differs (`next`).
   */
  private sharedItem(
    item: 'EE' | 'AT*' | 'SE*',
    top: Extract<Frame, { mode: 's' }>,
    events: ExiEvent[],
    next: SState,
  ): void {
    const c = this.c;
    if (item === 'EE') {
      c.stack.pop();
      events.push({ type: 'EE' });
    } else if (item === 'AT*') {
      this.undeclaredAttribute(events);
    } else {
      const q = this.qname();
      events.push({ type: 'SE', uri: q.uri, localName: q.localName } satisfies SE);
      top.state = next;
      c.enter(c.frameFor(q.uri, q.localName, q.key));
    }
  }

  private schemaInformed(top: Extract<Frame, { mode: 's' }>, events: ExiEvent[]): void {
    const c = this.c;
    const s = top.state;
    const code = readSchemaCode(this.r, s);
    if (code.level === 1) {
      const p = code.prod;
      switch (p.t) {
        case 'SE':
          events.push({ type: 'SE', uri: p.uri, localName: p.localName });
          top.state = p.next;
          c.enter({ mode: 's', state: c.grammars.element(p.decl), key: p.key });
          return;
        case 'AT':
          this.typed(events, { type: 'AT', uri: p.uri, localName: p.localName, value: '' }, p.dt, p.key);
          top.state = p.next;
          return;
        case 'CH':
          this.typed(events, { type: 'CH', value: '' }, p.dt, top.key);
          top.state = p.next;
          return;
        case 'EE':
        case 'AT*':
          this.sharedItem(p.t, top, events, s);
          return;
        case 'SE*':
          this.sharedItem('SE*', top, events, p.next);
          return;
        case 'SEuri': {
          const localName = c.tables.readLocalName(this.r, c.tables.uriId(p.uri));
          events.push({ type: 'SE', uri: p.uri, localName });
          top.state = p.next;
          c.enter(c.frameFor(p.uri, localName, qnameKey(p.uri, localName)));
          return;
        }
      }
    }
    switch (code.item) {
      case 'EE':
      case 'AT*':
      case 'SE*':
        this.sharedItem(code.item, top, events, s.content2);
        return;
      case 'CH':
        this.str(events, { type: 'CH', value: '' }, top.key);
        top.state = s.content2;
        return;
      case 'CMPI':
        events.push(this.cmpi(s.third[code.third] as 'CM' | 'PI'));
        if (s.kind !== 'element') top.state = s.content2;
        return;
      case 'XSI_TYPE':
        this.xsiTypeValue(events);
        return;
      case 'XSI_NIL': {
        // The value is in the structure channel.
        const nil = this.r.readBoolean();
        events.push({ type: 'AT', uri: XSI_NS, localName: 'nil', value: nil ? 'true' : 'false' });
        if (nil) top.state = c.grammars.typeEmpty(s);
        return;
      }
      case 'AT_INVALID': {
        if (code.third < s.nAt) {
          const p = s.prods[code.third] as Extract<SProd, { t: 'AT' }>;
          this.str(events, { type: 'AT', uri: p.uri, localName: p.localName, value: '' }, p.key);
          top.state = p.next;
          return;
        }
        const q = this.qname();
        this.str(events, { type: 'AT', uri: q.uri, localName: q.localName, value: '' }, q.key);
        return;
      }
      default:
        throw new ExiUnsupportedError(`${code.item} events in schema-informed streams`);
    }
  }
}
