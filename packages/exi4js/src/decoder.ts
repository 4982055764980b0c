/** EXI body decoder for schema-less streams (§6, §8.4) in all four alignments. */
import { BitReader, ExiError, ExiUnsupportedError } from './bits.js';
import { BodyReader } from './body-stream.js';
import {
  type ElementFrame,
  GrammarStack,
  Grammars,
  learnedTerm,
  readCode,
  type Term,
  Terms,
} from './grammars.js';
import { readHeader } from './header.js';
import { readCommentOrPi } from './limits.js';
import { SchemaBodyDecoder } from './schema/body.js';
import type { CodecState } from './session.js';
import { qnameKey, StringTables } from './strings.js';
import { type ExiEvent, type ExiOptions, type ResolvedOptions, resolveOptions, XSI_NS } from './types.js';

interface Frame extends ElementFrame {
  /** The element's SE event, whose prefix a later NS event may set (local-element-ns). */
  readonly se: Extract<ExiEvent, { type: 'SE' }>;
}

type ValueEvent = Extract<ExiEvent, { type: 'AT' | 'CH' }>;

export class BodyDecoder extends BodyReader<ValueEvent> {
  private readonly tables: StringTables;
  private readonly state: GrammarStack<Frame>;

  constructor(
    opts: ResolvedOptions,
    bytes: Uint8Array,
    headerReader: BitReader,
    /** An EXI session's string tables and built-in grammars (session.ts); fresh ones otherwise. */
    session?: CodecState,
  ) {
    super(opts, bytes, headerReader);
    this.tables = session?.tables ?? new StringTables(opts);
    this.state = new GrammarStack(session?.grammars ?? new Grammars(opts), opts.fragment);
    this.tables.budget = this.budget;
  }

  private value(key: string, e: ValueEvent): void {
    if (!this.reordered) {
      const v = this.tables.readValue(this.r, key);
      this.budget.text(v.length);
      e.value = v;
    } else this.queue(key, e);
  }

  protected readChannel(r: BitReader, events: ValueEvent[], key: string): void {
    for (const e of events) {
      const v = this.tables.readValue(r, key);
      this.budget.text(v.length);
      e.value = v;
    }
  }

  /** Key of the qualified name of the last `qnameEvent`. */
  private key = '';

  /**
   * Fills in the qualified name of an SE/AT event: from a learned production, or read from the stream after
   * SE(*)/AT(*) (and then learned by the current state), with its prefix if prefixes are preserved.
   */
  private qnameEvent<E extends Extract<ExiEvent, { type: 'SE' | 'AT' }>>(term: Term, e: E): E {
    const tables = this.tables;
    const preservePrefixes = this.opts.preserve.prefixes;
    let uriId: number;
    if (term.kind === 'SE' || term.kind === 'AT') {
      e.uri = term.uri;
      e.localName = term.localName;
      this.key = term.key;
      uriId = preservePrefixes ? tables.uriId(term.uri) : -1;
    } else {
      uriId = tables.readUri(this.r);
      const uri = tables.uri(uriId);
      const localName = tables.readLocalName(this.r, uriId);
      if (e.type === 'AT' && uri === XSI_NS && (localName === 'type' || localName === 'nil')) {
        throw new ExiUnsupportedError(`xsi:${localName} attributes`);
      }
      e.uri = uri;
      e.localName = localName;
      this.key = qnameKey(uri, localName);
      // In a start tag (AT, or SE as the first child) StartTagContent learns; in content ElementContent.
      this.state.learnStartElement(learnedTerm(e.type, uri, localName, this.key));
    }
    if (preservePrefixes) {
      const prefix = tables.readQNamePrefix(this.r, uriId);
      if (prefix !== undefined) e.prefix = prefix;
    }
    return e;
  }

  decode(): ExiEvent[] {
    const events: ExiEvent[] = [{ type: 'SD' }];
    const state = this.state;
    const budget = this.budget;
    for (;;) {
      const t = state.table();
      const term = readCode(this.r, t);
      const top = state.top;
      switch (term.kind) {
        case 'SE':
        case 'SE*': {
          const se = this.qnameEvent(term, { type: 'SE', uri: '', localName: '' });
          const key = this.key;
          budget.event(se.localName.length);
          budget.depth(state.depth + 1);
          events.push(se);
          state.enter({ g: state.grammars.element(se.uri, se.localName, key), key, se, inContent: false });
          break;
        }
        case 'NS': {
          if (!top) throw new ExiError('NS event outside an element');
          const uriId = this.tables.readUri(this.r);
          const prefix = this.tables.readNsPrefix(this.r, uriId);
          const localElementNs = this.r.readBoolean();
          if (localElementNs) top.se.prefix = prefix;
          budget.event(prefix.length);
          events.push({ type: 'NS', uri: this.tables.uri(uriId), prefix, localElementNs });
          break;
        }
        case 'AT':
        case 'AT*': {
          if (!top) throw new ExiError('AT event outside an element');
          const at = this.qnameEvent(term, { type: 'AT', uri: '', localName: '', value: '' });
          budget.event(at.localName.length);
          events.push(at);
          this.value(this.key, at);
          break;
        }
        case 'CH': {
          if (!top) throw new ExiError('CH event outside an element');
          if (!t.first.includes(term)) state.learnCharacters();
          state.content();
          budget.event(0);
          const ch: ValueEvent = { type: 'CH', value: '' };
          events.push(ch);
          this.value(top.key, ch);
          break;
        }
        case 'EE': {
          if (!top) throw new ExiError('EE event outside an element');
          if (!top.inContent && !t.first.includes(term)) top.g.learnStartTag(Terms.EE);
          state.leave();
          budget.event(0);
          events.push({ type: 'EE' });
          break;
        }
        case 'CM':
        case 'PI':
          events.push(readCommentOrPi(this.r, term.kind, budget));
          state.content();
          break;
        case 'ED':
          if (this.reordered) this.closeBlock(true);
          events.push({ type: 'ED' });
          return events;
        case 'SC':
          throw new ExiUnsupportedError('self-contained elements (SC events)');
        case 'DT':
        case 'ER':
          throw new ExiUnsupportedError(`DTD events (${term.kind})`);
      }
    }
  }
}

export interface DecodedStream {
  events: ExiEvent[];
  options: ResolvedOptions;
  cookie: boolean;
  optionsInHeader: boolean;
}

/** Decodes a complete EXI stream. Options in the header take precedence over `outOfBand`. */
export function decodeStream(bytes: Uint8Array, outOfBand?: ExiOptions): DecodedStream {
  const r = new BitReader(bytes, false);
  const header = readHeader(r, bytes);
  const opts = resolveOptions({
    ...(header.options ?? outOfBand ?? {}),
    schema: outOfBand?.schema,
    schemas: outOfBand?.schemas,
    // The reader's own bounds, never the stream's to choose.
    limits: outOfBand?.limits,
  });
  let events: ExiEvent[];
  if (opts.schema) {
    events = new SchemaBodyDecoder(opts, opts.schema, bytes, r).decode();
  } else {
    events = new BodyDecoder(opts, bytes, r).decode();
  }
  return { events, options: opts, cookie: header.cookie, optionsInHeader: header.options !== undefined };
}
