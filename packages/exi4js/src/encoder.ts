/** EXI body encoder for schema-less streams (§6, §8.4) in all four alignments. */
import { BitWriter, ExiError, ExiUnsupportedError } from './bits.js';
import { BodyWriter } from './body-stream.js';
import {
  type CodeTable,
  type ElementFrame,
  findGeneric,
  findLearnedQName,
  GrammarStack,
  Grammars,
  type LearnedTerm,
  learnedTerm,
  type Term,
  Terms,
  writeCode,
  writeFirst,
} from './grammars.js';
import { writeHeader } from './header.js';
import { checkSchemaOptions, SchemaBodyEncoder } from './schema/body.js';
import type { CodecState } from './session.js';
import { qnameKey, StringTables } from './strings.js';
import { type ExiEvent, type ResolvedOptions, XSI_NS } from './types.js';

export class BodyEncoder extends BodyWriter<string> {
  private readonly tables: StringTables;
  private readonly state: GrammarStack<ElementFrame>;

  constructor(
    opts: ResolvedOptions,
    headerWriter: BitWriter,
    /** An EXI session's string tables and built-in grammars (session.ts); fresh ones otherwise. */
    session?: CodecState,
  ) {
    super(opts, headerWriter);
    this.tables = session?.tables ?? new StringTables(opts);
    this.state = new GrammarStack(session?.grammars ?? new Grammars(opts), opts.fragment);
  }

  private generic(t: CodeTable, term: Term, what: string): void {
    const pos = findGeneric(t, term);
    if (!pos) throw new ExiError(`${what} is not allowed here`);
    writeCode(this.w, t, pos);
  }

  private value(key: string, value: string): void {
    if (!this.reordered) this.tables.writeValue(this.w, key, value);
    else this.queue(key, value);
  }

  protected writeChannel(w: BitWriter, values: string[], key: string): void {
    for (const v of values) this.tables.writeValue(w, key, v);
  }

  /**
   * SE(qname) / AT(qname): the learned production, or the generic one followed by the qualified name (which
   * the current state then learns), and the prefix if prefixes are preserved. Returns the qualified name's key.
   */
  private qnameEvent(t: CodeTable, e: Extract<ExiEvent, { type: 'SE' | 'AT' }>, what: string): string {
    const w = this.w;
    const tables = this.tables;
    const prefixes = this.opts.preserve.prefixes;
    const learned = findLearnedQName(t, e.type, e.uri, e.localName);
    let key: string;
    let uriId: number;
    if (learned >= 0) {
      writeFirst(w, t, learned);
      key = (t.first[learned] as LearnedTerm).key;
      uriId = prefixes ? tables.uriId(e.uri) : -1;
    } else {
      this.generic(t, e.type === 'SE' ? Terms.SE_ANY : Terms.AT_ANY, what);
      key = qnameKey(e.uri, e.localName);
      uriId = tables.writeUri(w, e.uri);
      tables.writeLocalName(w, uriId, e.localName);
      // In a start tag (AT, or SE as the first child) StartTagContent learns; in content ElementContent.
      this.state.learnStartElement(learnedTerm(e.type, e.uri, e.localName, key));
    }
    if (prefixes) tables.writeQNamePrefix(w, uriId, e.prefix);
    return key;
  }

  encode(events: readonly ExiEvent[]): void {
    for (const e of events) this.event(e);
  }

  private event(e: ExiEvent): void {
    if (this.finished) throw new ExiError(`event ${e.type} after ED`);
    const p = this.opts.preserve;
    const state = this.state;
    const top = state.top;
    const t = state.table();
    const w = this.w;
    switch (e.type) {
      case 'SD':
        return;
      case 'SE': {
        const key = this.qnameEvent(t, e, top || !state.rootSeen ? 'SE' : 'a second root element');
        state.enter({ g: state.grammars.element(e.uri, e.localName, key), key, inContent: false });
        return;
      }
      case 'NS': {
        if (!p.prefixes) return;
        if (!top || top.inContent) throw new ExiError('NS event outside a start tag');
        this.generic(t, Terms.NS, 'NS');
        const uriId = this.tables.writeUri(w, e.uri);
        this.tables.writeNsPrefix(w, uriId, e.prefix);
        w.writeBoolean(e.localElementNs);
        return;
      }
      case 'AT': {
        if (!top || top.inContent) throw new ExiError(`attribute ${e.localName} outside a start tag`);
        if (e.uri === XSI_NS && (e.localName === 'type' || e.localName === 'nil')) {
          throw new ExiUnsupportedError(`xsi:${e.localName} attributes`);
        }
        this.value(this.qnameEvent(t, e, 'AT'), e.value);
        return;
      }
      case 'CH': {
        if (e.value === '') return;
        if (!top) throw new ExiError('character data outside the root element');
        const i = t.first.indexOf(Terms.CH);
        if (i >= 0) {
          writeFirst(w, t, i);
        } else {
          this.generic(t, Terms.CH, 'CH');
          state.learnCharacters();
        }
        state.content();
        this.value(top.key, e.value);
        return;
      }
      case 'EE': {
        if (!top) throw new ExiError('EE without a matching SE');
        const pos = findGeneric(t, Terms.EE);
        if (!pos) throw new ExiError('EE is not allowed here');
        writeCode(w, t, pos);
        if (pos.level !== 1) top.g.learnStartTag(Terms.EE);
        state.leave();
        return;
      }
      case 'CM':
      case 'PI': {
        if (e.type === 'CM' ? !p.comments : !p.pis) return;
        this.generic(t, e.type === 'CM' ? Terms.CM : Terms.PI, e.type);
        if (e.type === 'CM') {
          w.writeString(e.text);
        } else {
          w.writeString(e.target);
          w.writeString(e.data);
        }
        state.content();
        return;
      }
      case 'ED': {
        if (top) throw new ExiError(`ED with ${state.depth} element(s) still open`);
        if (!state.rootSeen) throw new ExiError('ED before the root element');
        this.generic(t, Terms.ED, 'ED');
        this.finished = true;
        return;
      }
    }
  }

  /** Finishes the body and returns the complete stream (header included). */
}

/** Encodes a complete event sequence (SD ... ED) into an EXI stream. */
export function encodeEvents(
  events: readonly ExiEvent[],
  opts: ResolvedOptions,
  includeOptions: boolean,
  includeCookie: boolean,
): Uint8Array {
  const w = new BitWriter(false);
  if (opts.schema) checkSchemaOptions(opts);
  writeHeader(w, opts, includeOptions, includeCookie);
  if (opts.schema) {
    const schemaEncoder = new SchemaBodyEncoder(opts, opts.schema, w);
    schemaEncoder.encode(events);
    return schemaEncoder.finish();
  }
  const enc = new BodyEncoder(opts, w);
  enc.encode(events);
  return enc.finish();
}
