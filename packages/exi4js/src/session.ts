/**
 * EXI sessions: XEP-0322 `sessionWideBuffers`. "If set to true, all buffers, string tables, etc. will be
 * maintained during the entire session": a stream of EXI bodies (one per stanza) whose string tables and
 * learned built-in grammars carry over from one body to the next, so that a namespace, a name, a JID or a
 * value that an earlier stanza spelled out costs a few bits of compact id later on, and an element seen
 * before is coded through the productions it learned (§8.4.3) instead of SE(*) plus its qualified name.
 *
 * What persists from one body to the next (both ends are ours; encoder and decoder keep the same state):
 *   - the string tables (§7.3): URI, prefix and local-name partitions, the global and local value
 *     partitions, and the position of the global partition's wrap-around (valuePartitionCapacity);
 *   - the built-in element grammars (§8.4.3) with every production they learned, one per qualified name,
 *     in schema-less mode and for the undeclared elements of schema-informed mode; and the learned
 *     productions of the fragment grammar (fragment mode).
 * What does not: the header (a session codes bodies only; the binding writes the header once per EXI
 * stream), the grammar position (every body is a complete document, SD … ED, starting in DocContent), the
 * element stack, and with (pre-)compression the blocks, channels and DEFLATE streams (per body, as §9
 * defines them for one EXI stream). Schema-informed grammars never change, so there is nothing to carry.
 *
 * A body that fails half-way (truncated data, an invalid event, bytes that do not decode) leaves the state
 * exactly as it was before the body: every change to the tables and grammars is recorded in an undo log
 * while a body is coded and undone on error. This is what lets a stream reader decode a body that TCP
 * delivered only in part, and decode it again from its start once the rest has arrived.
 */
import { BitReader, BitWriter, ExiError, ExiTruncatedError } from './bits.js';
import { BodyDecoder } from './decoder.js';
import { BodyEncoder } from './encoder.js';
import { Grammars } from './grammars.js';
import { SchemaBodyDecoder, SchemaBodyEncoder } from './schema/body.js';
import { StringTables } from './strings.js';
import {
  type ExiEvent,
  type ExiOptions,
  type ResolvedOptions,
  resolveOptions,
  type UndoLog,
} from './types.js';
import { dropIgnorableWhitespace, parseXml, parseXmlFragment, pruneEvents, writeXml } from './xml.js';

/** The state an EXI session carries from one body to the next (see the file header). */
export interface CodecState {
  readonly tables: StringTables;
  /** The built-in grammars (schema-less mode, and undeclared elements in schema-informed mode). */
  readonly grammars: Grammars;
}

/** A session's state: string tables and built-in grammars, changed body by body, all or nothing. */
export class SessionState implements CodecState {
  readonly tables: StringTables;
  readonly grammars: Grammars;
  private readonly undo: UndoLog = [];

  constructor(opts: ResolvedOptions) {
    this.tables = new StringTables(opts);
    if (opts.schema) this.tables.addSchemaEntries(opts.schema.localNames);
    this.grammars = new Grammars(opts);
    // After the initial entries: only what bodies add is recorded.
    this.tables.undo = this.undo;
    this.grammars.undo = this.undo;
  }

  /** Runs the coding of one body: when it throws, every change it made to the state is undone. */
  atomic<T>(code: () => T): T {
    const undo = this.undo;
    undo.length = 0;
    try {
      const result = code();
      undo.length = 0;
      return result;
    } catch (err) {
      for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
      undo.length = 0;
      throw err;
    }
  }
}

/** Brings a user-supplied event list into the canonical SD ... ED form. */
function normalizeEvents(events: readonly ExiEvent[]): ExiEvent[] {
  const body = events.filter((e) => e.type !== 'SD' && e.type !== 'ED');
  return [{ type: 'SD' }, ...body, { type: 'ED' }];
}

/** The events to encode for an XML document or a user-supplied event list (pruned as the options say). */
export function prepareEvents(
  xml: string | readonly ExiEvent[],
  opts: ResolvedOptions,
  dropWhitespace: boolean,
): ExiEvent[] {
  if (typeof xml === 'string') {
    const parsed = opts.fragment ? parseXmlFragment(xml) : parseXml(xml);
    const events = pruneEvents(parsed, opts.preserve.comments, opts.preserve.pis);
    return dropWhitespace ? dropIgnorableWhitespace(events) : events;
  }
  return pruneEvents(normalizeEvents(xml), opts.preserve.comments, opts.preserve.pis);
}

/**
 * Encodes one body (no header) into `w` (empty, or holding a header). `session`: the state to continue;
 * fresh tables and grammars otherwise.
 */
export function encodeBodyInto(
  w: BitWriter,
  events: readonly ExiEvent[],
  opts: ResolvedOptions,
  session?: CodecState,
): Uint8Array {
  if (opts.schema) {
    const enc = new SchemaBodyEncoder(opts, opts.schema, w, session);
    enc.encode(events);
    return enc.finish();
  }
  const enc = new BodyEncoder(opts, w, session);
  enc.encode(events);
  return enc.finish();
}

/**
 * Decodes the body at the start of `buf` (no header) and says how many bytes it took. Throws
 * `ExiTruncatedError` when `buf` ends before the body does.
 */
export function decodeBodyAt(
  buf: Uint8Array,
  opts: ResolvedOptions,
  session?: CodecState,
): { events: ExiEvent[]; size: number } {
  const r = new BitReader(buf, false, 0);
  let events: ExiEvent[];
  let compressedEnd: () => number;
  if (opts.schema) {
    const dec = new SchemaBodyDecoder(opts, opts.schema, buf, r, session);
    events = dec.decode();
    compressedEnd = () => dec.compressedEnd;
  } else {
    const dec = new BodyDecoder(opts, buf, r, session);
    events = dec.decode();
    compressedEnd = () => dec.compressedEnd;
  }
  if (opts.compression) return { events, size: compressedEnd() };
  r.align();
  return { events, size: r.bytePosition };
}

/** An EXI session (XEP-0322 sessionWideBuffers): one per direction of a stream, see `createExiSession`. */
export interface ExiSession {
  /** Encodes one document (XML text or events) as the next body of the session: no header, padded to a byte. */
  encode(xml: string | readonly ExiEvent[]): Uint8Array;
  /** Decodes the next body of the session (exactly one body: no header, nothing after it) to XML text. */
  decode(body: Uint8Array): string;
  /** Same as `decode`, to events. */
  decodeEvents(body: Uint8Array): ExiEvent[];
  /**
   * The body at the start of `buf` and its size in bytes, or undefined when `buf` ends before the body does;
   * the session's state is then unchanged, so the same body can be decoded again once more bytes arrived.
   */
  decodeBody(buf: Uint8Array): { events: ExiEvent[]; size: number } | undefined;
  /**
   * After `decodeBody` returned undefined: a lower bound of the bytes the incomplete body needs (0 when not known),
   * so that a stream reader need not decode it again before that many have arrived.
   */
  readonly needed: number;
  /** Forgets everything learned: the next body is coded as the first one of a new session. */
  reset(): void;
  /** Bodies coded since the session started (or was reset). */
  readonly bodies: number;
  /**
   * How many values the string tables hold: global entries, and local partition slots (assigned or not). What
   * a long session keeps in memory grows with these (see `localValuePartitions`).
   */
  valueCounts(): { global: number; localSlots: number };
}

/**
 * An EXI session with fixed options (given out of band, as XEP-0322 agrees them in setup). Use one session
 * for encoding and one for decoding per direction of a stream: each side must code the same bodies in the
 * same order. `includeOptions` and `includeCookie` do not apply (bodies carry no header); everything else
 * does, including `schema`/`schemaId`+`schemas`, all four alignments, `valueMaxLength`,
 * `valuePartitionCapacity` (its wrap-around continues across bodies), `localValuePartitions` and
 * `dropIgnorableWhitespace`.
 * A session is either an encoder or a decoder: using one for both throws.
 */
export function createExiSession(options: ExiOptions = {}): ExiSession {
  const opts = resolveOptions(options);
  const dropWhitespace = options.dropIgnorableWhitespace ?? false;
  let state = new SessionState(opts);
  let role: 'encoder' | 'decoder' | undefined;
  let bodies = 0;
  let needed = 0;
  const claim = (r: 'encoder' | 'decoder') => {
    if (role !== undefined && role !== r) {
      throw new ExiError(`this EXI session is an ${role}: use one session per direction and side`);
    }
    role = r;
  };
  const body = (buf: Uint8Array) => {
    claim('decoder');
    const res = state.atomic(() => decodeBodyAt(buf, opts, state));
    bodies++;
    return res;
  };
  const whole = (buf: Uint8Array): ExiEvent[] => {
    const { events, size } = body(buf);
    if (size !== buf.length) throw new ExiError(`${buf.length - size} byte(s) after the EXI body`);
    return events;
  };
  return {
    encode(xml) {
      claim('encoder');
      const events = prepareEvents(xml, opts, dropWhitespace);
      const bytes = state.atomic(() => encodeBodyInto(new BitWriter(false), events, opts, state));
      bodies++;
      return bytes;
    },
    valueCounts: () => state.tables.valueCounts(),
    decode: (buf) => writeXml(whole(buf), true),
    decodeEvents: whole,
    decodeBody(buf) {
      needed = 0;
      try {
        return body(buf);
      } catch (err) {
        if (err instanceof ExiTruncatedError) {
          // With compression the reader's buffer is inflated data, not `buf`: no bound.
          needed = opts.compression ? 0 : err.needed;
          return undefined;
        }
        throw err;
      }
    },
    get needed() {
      return needed;
    },
    reset() {
      state = new SessionState(opts);
      role = undefined;
      bodies = 0;
    },
    get bodies() {
      return bodies;
    },
  };
}
