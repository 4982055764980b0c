/**
 * Cuts the inbound XML byte stream of an XMPP connection into top-level elements before the parser sees
 * them (issue 13), so that a stanza larger than `maxStanzaBytes` is never buffered whole nor parsed: its
 * bytes are counted and dropped, and only its first `headBytes` are kept so that the transport can tell
 * the sender (an IQ get/set gets `policy-violation`). The parser never sees any byte of a dropped
 * stanza, so it stays in step and the stream survives.
 *
 * It is a tokenizer, not a parser: it follows `<`…`>` (quotes respected), `</…>`, `…/>`, comments, PIs,
 * CDATA and declarations only to know the depth. Depth 0 is outside the stream, depth 1 inside
 * `<stream:stream>`; every element opened at depth 1 is a stanza (or nonza). Bytes are scanned with
 * Buffer.indexOf, so the cost per byte is far below ltx's own.
 * Malformed input it cannot follow reaches the parser, which ends the stream (bad-format) as before.
 */
import { StringDecoder } from 'node:string_decoder';

export type FramedPiece = { kind: 'xml'; text: string } | { kind: 'oversize'; bytes: number; head: string };

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QMARK = 0x3f;
const BANG = 0x21;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

type Mode =
  | 'text' // character data (or between stanzas)
  | 'lt' // just read '<'
  | 'open' // inside a start tag
  | 'close' // inside an end tag
  | 'special'; // <?…?>, <!--…-->, <![CDATA[…]]>, <!…>: until `terminator`

export interface StanzaFramer {
  /** Feeds bytes (or text, for transports that decode themselves); returns what to hand on, in order. */
  push(data: Buffer | string): FramedPiece[];
  /** A stream restart (after STARTTLS or SASL): the server sends a new stream header. */
  reset(): void;
  /** True while a top-level element has begun and not ended. */
  readonly inStanza: boolean;
}

export function createStanzaFramer(maxStanzaBytes: number, headBytes = 4096): StanzaFramer {
  const headLimit = Math.min(headBytes, maxStanzaBytes);
  let depth = 0;
  let mode: Mode = 'text';
  let quote = 0; // inside a start tag: the open quote character, or 0
  let lastByte = 0; // inside a start tag: the byte before the current position, to spot `/>` across chunks
  let terminator = ''; // special mode: what ends it
  let specialSeen = ''; // special mode: the first bytes after `<`, to tell which kind, and the tail
  let inStanza = false;
  let provisional = false; // the current stanza began at a '<' whose next byte is not read yet
  let stanzaBytes = 0;
  let stanzaParts: Buffer[] = [];
  let oversize = false;
  let head: HeadKeeper | undefined;
  const passDecoder = new StringDecoder('utf8');

  const reset = () => {
    depth = 0;
    mode = 'text';
    quote = 0;
    lastByte = 0;
    terminator = '';
    specialSeen = '';
    inStanza = false;
    provisional = false;
    stanzaBytes = 0;
    stanzaParts = [];
    oversize = false;
    head = undefined;
  };

  return {
    reset,
    get inStanza() {
      return inStanza;
    },
    push(data) {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const out: FramedPiece[] = [];
      // Adjacent text goes to the parser in one write.
      const xmlOut = (text: string) => {
        const last = out[out.length - 1];
        if (last?.kind === 'xml') last.text += text;
        else out.push({ kind: 'xml', text });
      };
      let passStart = 0; // start of bytes not yet handed on (outside a stanza)
      let stanzaStart = 0; // start of the current stanza's bytes in this chunk

      const pass = (end: number) => {
        if (end > passStart) {
          const text = passDecoder.write(buf.subarray(passStart, end));
          if (text) xmlOut(text);
        }
      };
      const collect = (end: number) => {
        if (!inStanza || end <= stanzaStart) return;
        const part = buf.subarray(stanzaStart, end);
        stanzaStart = end;
        stanzaBytes += part.length;
        if (!oversize) {
          stanzaParts.push(part);
          if (stanzaBytes > maxStanzaBytes) {
            oversize = true;
            head = createHeadKeeper(headLimit);
            for (const p of stanzaParts) head.feed(p);
            stanzaParts = [];
          }
        } else head?.feed(part);
      };
      const beginStanza = (at: number) => {
        pass(at);
        inStanza = true;
        stanzaStart = at;
        stanzaBytes = 0;
        stanzaParts = [];
        oversize = false;
        head = undefined;
      };
      const endStanza = (end: number) => {
        collect(end);
        if (oversize) {
          out.push({
            kind: 'oversize',
            bytes: stanzaBytes,
            head: head?.text() ?? '',
          });
        } else {
          const parts = stanzaParts;
          xmlOut(parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8'));
        }
        inStanza = false;
        stanzaParts = [];
        head = undefined;
        passStart = end;
      };

      let i = 0;
      const n = buf.length;
      while (i < n) {
        if (mode === 'text') {
          const lt = buf.indexOf(LT, i);
          if (lt < 0) {
            break;
          }
          // At depth 1 a '<' begins a stanza (counted with it), unless it turns out to be `</`, `<?`, `<!`.
          if (depth === 1 && !inStanza) {
            beginStanza(lt);
            provisional = true;
          }
          mode = 'lt';
          i = lt + 1;
          continue;
        }
        if (mode === 'lt') {
          const c = buf[i]!;
          if (provisional) {
            provisional = false;
            if (c === SLASH || c === QMARK || c === BANG) {
              // Not a stanza (`</stream:stream>`, or junk the parser will judge): hand the '<' on.
              collect(i);
              const held = Buffer.concat(stanzaParts);
              inStanza = false;
              stanzaParts = [];
              const text = passDecoder.write(held);
              if (text) xmlOut(text);
              passStart = i;
            }
          }
          if (c === SLASH) {
            mode = 'close';
            i++;
          } else if (c === QMARK) {
            mode = 'special';
            terminator = '?>';
            specialSeen = '';
            i++;
          } else if (c === BANG) {
            mode = 'special';
            terminator = ''; // decided once enough bytes are seen
            specialSeen = '';
            i++;
          } else {
            mode = 'open';
            quote = 0;
            lastByte = 0;
          }
          continue;
        }
        if (mode === 'open') {
          if (quote) {
            const q = buf.indexOf(quote, i);
            if (q < 0) break;
            lastByte = quote;
            quote = 0;
            i = q + 1;
            continue;
          }
          // The next '>' ends the tag unless a quote opens first (searched only up to that '>').
          const gt = buf.indexOf(GT, i);
          const segment = buf.subarray(i, gt < 0 ? n : gt);
          const dq = segment.indexOf(DQUOTE);
          const sq = segment.indexOf(SQUOTE);
          const q = dq < 0 ? sq : sq < 0 ? dq : Math.min(dq, sq);
          if (q >= 0) {
            quote = segment[q]!;
            i += q + 1;
            continue;
          }
          if (gt < 0) {
            if (n > i) lastByte = buf[n - 1]!;
            break;
          }
          // `/>` is contiguous (XML 1.0 EmptyElemTag); the '/' may have come at the end of the last chunk.
          const selfClosing = (gt > i ? buf[gt - 1] : lastByte) === SLASH;
          mode = 'text';
          i = gt + 1;
          if (selfClosing) {
            if (depth === 1 && inStanza) endStanza(i);
          } else {
            depth++;
          }
          continue;
        }
        if (mode === 'close') {
          const gt = buf.indexOf(GT, i);
          if (gt < 0) {
            break;
          }
          mode = 'text';
          i = gt + 1;
          depth = Math.max(0, depth - 1);
          if (depth === 1 && inStanza) endStanza(i);
          continue;
        }
        // special
        if (!terminator) {
          // After `<!`: `--` (comment), `[CDATA[`, or a declaration ending at '>'.
          while (i < n && specialSeen.length < 7) {
            specialSeen += String.fromCharCode(buf[i]!);
            i++;
            if (specialSeen.startsWith('--')) break;
            if (!'[CDATA['.startsWith(specialSeen) && !'--'.startsWith(specialSeen)) break;
          }
          if (specialSeen.startsWith('--')) terminator = '-->';
          else if (specialSeen === '[CDATA[') terminator = ']]>';
          else if (!'[CDATA['.startsWith(specialSeen) && !'--'.startsWith(specialSeen)) {
            terminator = '>';
            if (specialSeen.endsWith('>')) {
              mode = 'text';
              continue;
            }
          } else continue; // need more bytes
          specialSeen = '';
          continue;
        }
        const last = terminator.charCodeAt(terminator.length - 1);
        const at = buf.indexOf(last, i);
        if (at < 0) {
          specialSeen = tail(specialSeen + buf.toString('latin1', i, n), terminator.length);
          break;
        }
        const seen = specialSeen + buf.toString('latin1', Math.max(i, at - terminator.length + 1), at + 1);
        i = at + 1;
        if (seen.endsWith(terminator)) {
          mode = 'text';
          specialSeen = '';
        } else {
          specialSeen = tail(seen, terminator.length);
        }
      }

      if (inStanza) collect(n);
      else pass(n);
      return out;
    },
  };
}

function tail(s: string, keep: number): string {
  return s.length <= keep ? s : s.slice(s.length - keep);
}

/** Bytes of an attribute value kept in a dropped stanza's head (an id or a JID is far shorter). */
const VALUE_KEEP = 256;
/** Bytes kept after the start tag: the first child's start tag, for its name and namespace. */
const AFTER_KEEP = 512;

interface HeadKeeper {
  feed(part: Buffer): void;
  text(): string;
}

/**
 * What is kept of a dropped stanza so that the sender can be answered: its start tag with every attribute value cut
 * to VALUE_KEEP bytes (a 1 MB attribute before `from` or `id` must not hide them), then the first bytes after it,
 * at most `limit` bytes in all. It reads byte by byte, but only the bytes of oversized stanzas, and only until
 * it has what it keeps.
 */
function createHeadKeeper(limit: number): HeadKeeper {
  const kept = Buffer.alloc(limit);
  let length = 0;
  let inTag = true;
  let quote = 0;
  let valueBytes = 0;
  let after = 0;
  let done = false;
  const keep = (b: number) => {
    if (length < limit) kept[length++] = b;
    else done = true;
  };
  return {
    feed(part) {
      for (let i = 0; i < part.length && !done; i++) {
        const b = part[i] as number;
        if (!inTag) {
          keep(b);
          if (++after >= AFTER_KEEP) done = true;
        } else if (quote) {
          if (b === quote) {
            quote = 0;
            keep(b);
          } else if (valueBytes++ < VALUE_KEEP) keep(b);
        } else {
          if (b === DQUOTE || b === SQUOTE) {
            quote = b;
            valueBytes = 0;
          } else if (b === GT) inTag = false;
          keep(b);
        }
      }
    },
    text: () => kept.subarray(0, length).toString('utf8'),
  };
}

export interface StanzaHead {
  name: string | undefined;
  /** Attributes of the start tag, when the whole start tag is in the head. */
  attrs: Record<string, string> | undefined;
  /** Name and namespace of the first child element, when its start tag's name is in the head. */
  child: { name: string; xmlns: string | undefined } | undefined;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const unescape = (s: string) => s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ENTITIES[e] ?? '');

/** What can be read from the first bytes of a dropped stanza (for the error reply and the log). */
export function readStanzaHead(head: string): StanzaHead {
  const start = /^\s*<([^\s/>]+)/.exec(head);
  if (!start) return { name: undefined, attrs: undefined, child: undefined };
  const name = start[1]!;
  const tagEnd = findTagEnd(head, start[0].length);
  if (tagEnd < 0) return { name, attrs: undefined, child: undefined };
  const attrs: Record<string, string> = {};
  for (const m of head.slice(start[0].length, tagEnd).matchAll(/([^\s=/]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    attrs[m[1]!] = unescape(m[3] ?? m[4] ?? '');
  }
  let child: StanzaHead['child'];
  const childStart = /^\s*<([^\s/>!?]+)/.exec(head.slice(tagEnd + 1));
  if (head[tagEnd - 1] !== '/' && childStart) {
    const from = tagEnd + 1 + childStart[0].length;
    const end = findTagEnd(head, from);
    const tag = head.slice(from, end < 0 ? head.length : end);
    const ns = /\sxmlns\s*=\s*("([^"]*)"|'([^']*)')/.exec(` ${tag}`);
    child = { name: childStart[1]!, xmlns: ns ? unescape(ns[2] ?? ns[3] ?? '') : undefined };
  }
  return { name, attrs, child };
}

function findTagEnd(s: string, from: number): number {
  let quote = '';
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return i;
  }
  return -1;
}
