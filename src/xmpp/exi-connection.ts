/**
 * XEP-0322 alternative binary binding ("EXI/XMPP over TCP") for @xmpp/client 0.14: an `exi://host:port`
 * transport, plus the stream-level EXI codec that the hub's gateway (src/hub/exi-gateway.ts) shares.
 *
 * Wire format (both directions), see docs/exi.md "Binding":
 *
 *   `$EXI` cookie + EXI header (one byte 0x80: no options document, format version 1), then EXI bodies.
 *   Each body is one XML element (SD, the element, ED), bit-packed, zero-padded to a byte boundary, as
 *   XEP-0322 §3.3 prescribes: no length prefix. Our decoder finds the end of a body by itself (it stops
 *   at ED and we round up to the next byte); a body that is cut by TCP makes the decoder hit the end of
 *   the buffer ("EXI stream truncated"), and we wait for more bytes and decode it again.
 *
 *   - `<exi:streamStart>` / `<exi:streamEnd>` bodies stand for `<stream:stream …>` / `</stream:stream>`;
 *     every other top-level element (SASL, bind, stanzas) is one body.
 *   - Before anything else the client may send `<exi:setup>` (still with the default options); the server
 *     answers `<exi:setupResponse>`. After that, each side starts again with a new cookie + header and
 *     uses the agreed options: bit-packed, no compression, strict=false, and as schema the canonical
 *     schema of the agreed schema files (identified by namespace, byte size and MD5), built by merging
 *     the compiled schemas. With sessionWideBuffers (the client proposes it unless the service URI says
 *     `?sessionWideBuffers=false`; the gateway accepts it) each direction is one EXI session
 *     (`createExiSession`): string tables and learned built-in grammars carry over from one body to the
 *     next, from the new header until the connection ends or the next setup. An XMPP stream restart (the
 *     `streamStart` after SASL) does not reset it: XEP-0322 ties the buffers to the EXI session, which
 *     "only stops when the session is closed, i.e. when the socket connection is dropped".
 *   - Default options (no setup): schema-less, bit-packed, strict=false. XEP-0322's default is the
 *     canonical XMPP schema set `urn:xmpp:exi:default`, which we do not have; this is a deviation.
 *   - setup is only supported before the first streamStart (we re-open the EXI stream, not the XMPP
 *     stream, so the upstream XML stream must not be open yet).
 *
 * How it plugs into @xmpp/client: `Client` delegates `send`, `header`, `footer`, `socketParameters` to the
 * transport's prototype, but keeps its own `_onData`, which turns socket data into UTF-8 text for the
 * `Parser`. So the byte-level work (cookie, header, setup, EXI bodies) is done in `ExiSocket`: it takes
 * one complete XML element per `write()` (header() and footer() produce `<exi:streamStart>` /
 * `<exi:streamEnd>` elements, send() an element with its namespaces made explicit) and emits XML text
 * (`<stream:stream …>`, one element, `</stream:stream>`) as 'data', which @xmpp/xml's Parser turns into
 * the usual `start`/`element`/`end` events. `ExiParser` (the transport's Parser) is that parser.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket as NetSocket } from 'node:net';
import Connection from '@xmpp/connection';
import { EventEmitter } from '@xmpp/events';
import { Element, escapeXML, Parser } from '@xmpp/xml';
import {
  createExiSession,
  decodeBody,
  ExiError,
  type ExiSession,
  ExiUnsupportedError,
  encode,
  type CompiledSchema,
  type ExiEvent,
  type ExiLimits,
  type ExiOptions,
  parseXml,
  IOT_SCHEMA_IDS,
  type IotSchemaId,
  SCHEMA_DEPENDENCIES,
  schemaFileBytes,
  schemaSet,
  xsdTargetNamespace,
  isNCName,
  XML_NS,
  serializeXml,
} from 'exi4js';

export const EXI_NS = 'http://jabber.org/protocol/compress/exi';
export const STREAM_NS = 'http://etherx.jabber.org/streams';
export const CLIENT_NS = 'jabber:client';
/** `$EXI` followed by the one-byte header: distinguishing bits 10, no options, final version 1. */
export const EXI_HEADER = Uint8Array.from([0x24, 0x45, 0x58, 0x49, 0x80]);
const HEADER_BYTE = 0x80;
/**
 * The largest stanza the binding carries, in bytes of XML. An EXI body is smaller than its XML, so a body still
 * incomplete after this many buffered bytes is an error, not a slow sender; and a body may decode to at most
 * this many characters (`maxDecodedBytes`) and one event per 8 bytes of it (`<a/>` is 4 bytes and 2 events).
 */
export const MAX_STANZA_BYTES = 1 << 20;
const MAX_BODY_BYTES = MAX_STANZA_BYTES;
const BINDING_LIMITS: ExiLimits = {
  maxDecodedBytes: MAX_STANZA_BYTES,
  maxEvents: MAX_STANZA_BYTES / 8,
  maxDepth: 128,
};

// ---------------------------------------------------------------------------------------------
// Schemas: identified by target namespace, byte size and MD5 of the exact file bytes (XEP-0322).

export interface SchemaFileInfo {
  id: IotSchemaId;
  ns: string;
  bytes: number;
  md5Hash: string;
}

let schemaInfos: SchemaFileInfo[] | undefined;

/** The schemas we have (src/exi/schema/*.xsd), as XEP-0322 identifies them. */
export function knownSchemas(): SchemaFileInfo[] {
  if (!schemaInfos) {
    schemaInfos = IOT_SCHEMA_IDS.map((id) => {
      const bytes = schemaFileBytes(id);
      return {
        id,
        ns: xsdTargetNamespace(bytes.toString('utf8')),
        bytes: bytes.length,
        md5Hash: createHash('md5').update(bytes).digest('hex'),
      };
    });
  }
  return schemaInfos;
}

/** The schemas of `ids` whose dependencies (SCHEMA_DEPENDENCIES) are in `ids` too. */
export function usableSchemas(ids: readonly IotSchemaId[]): IotSchemaId[] {
  return ids.filter((id) => (SCHEMA_DEPENDENCIES[id] ?? []).every((d) => ids.includes(d)));
}

/**
 * The "canonical schema" of XEP-0322 §3.10 (a wrapper importing each agreed schema): the agreed schema
 * files compiled together as one schema set, so that references between their namespaces resolve.
 */
export function canonicalSchema(ids: readonly IotSchemaId[]): CompiledSchema | undefined {
  if (ids.length === 0) return undefined;
  return schemaSet(ids);
}

/** Options of an EXI/XMPP stream as agreed by setup (or the defaults). */
export interface BindingOptions {
  schemas: IotSchemaId[];
  valueMaxLength?: number;
  valuePartitionCapacity?: number;
  /** XEP-0322 sessionWideBuffers: one EXI session per direction (tables and grammars kept across bodies). */
  sessionWideBuffers?: boolean;
}

export const DEFAULT_BINDING: BindingOptions = { schemas: [] };

/**
 * The codec options of a stream. `localValuePartitions: false` is XEP-0322's default for EXI/XMPP (§"Default
 * Payload Encoding Options", after the EXI Profile), and setup has no attribute to change it. It also bounds a
 * sessionWideBuffers session's value memory by valuePartitionCapacity: with local partitions, each new value
 * would keep a slot in its local partition for the life of the connection (EXI never reuses local ids).
 * The same default's limits on grammar learning (maximumNumberOfBuiltInElementGrammars/Productions 0) are not
 * applied: we propose and accept only strict=false streams, whose undeclared elements need learning.
 */
function codecOptions(b: BindingOptions): ExiOptions {
  const o: ExiOptions = {
    alignment: 'bit-packed',
    strict: false,
    localValuePartitions: false,
    limits: BINDING_LIMITS,
  };
  const schema = canonicalSchema(b.schemas);
  if (schema) o.schema = schema;
  if (b.valueMaxLength !== undefined) o.valueMaxLength = b.valueMaxLength;
  if (b.valuePartitionCapacity !== undefined) o.valuePartitionCapacity = b.valuePartitionCapacity;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/**
 * Writes EXI bodies; a cookie + header goes before the first body after construction or `restart`. With
 * sessionWideBuffers, the bodies after a header form one EXI session.
 */
export class ExiBodyWriter {
  private needHeader = true;
  private opts: ExiOptions = codecOptions(DEFAULT_BINDING);
  /** `opts` for `encode`, made once (an options object spread per body costs about 1.5 µs). */
  private encodeOpts: ExiOptions = { ...this.opts, includeOptions: false, includeCookie: false };
  private session: ExiSession | undefined;

  /** Following bodies use `b`, after a new cookie + header (and a new session). */
  restart(b: BindingOptions): void {
    this.opts = codecOptions(b);
    this.encodeOpts = { ...this.opts, includeOptions: false, includeCookie: false };
    this.session = b.sessionWideBuffers ? createExiSession(this.opts) : undefined;
    this.needHeader = true;
  }

  body(events: readonly ExiEvent[]): Uint8Array {
    let body: Uint8Array;
    if (this.session) {
      body = this.session.encode(events);
    } else {
      const full = encode(events, this.encodeOpts);
      if (full[0] !== HEADER_BYTE) throw new ExiError('unexpected EXI header from the encoder');
      body = full.subarray(1);
    }
    if (!this.needHeader) return body;
    this.needHeader = false;
    const out = new Uint8Array(EXI_HEADER.length + body.length);
    out.set(EXI_HEADER, 0);
    out.set(body, EXI_HEADER.length);
    return out;
  }

  /** One complete XML element (its namespaces declared on it) as a body. */
  element(xmlText: string): Uint8Array {
    return this.body(parseXml(xmlText));
  }
}

/**
 * Reads an EXI/XMPP byte stream: cookie + header, then bodies. `onBody` runs for each body before the
 * next one is decoded, so it can switch options (`restart`) for the bytes that follow.
 */
export class ExiBodyReader {
  private buf: Uint8Array = new Uint8Array(0);
  /** Bytes the incomplete body at the start of `buf` needs at least (its decoder said so). */
  private needed = 0;
  private expectHeader = true;
  private opts: ExiOptions = codecOptions(DEFAULT_BINDING);
  private session: ExiSession | undefined;

  constructor(private readonly onBody: (events: ExiEvent[], bytes: number) => void) {}

  /** After the current body: a new cookie + header, then bodies with `b` (one EXI session with sessionWideBuffers). */
  restart(b: BindingOptions): void {
    this.opts = codecOptions(b);
    this.session = b.sessionWideBuffers ? createExiSession(this.opts) : undefined;
    this.expectHeader = true;
  }

  push(chunk: Uint8Array): void {
    if (this.buf.length === 0) this.buf = chunk;
    else {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf, 0);
      joined.set(chunk, this.buf.length);
      this.buf = joined;
    }
    for (;;) {
      if (this.buf.length === 0) return;
      if (this.expectHeader) {
        let off = 0;
        if (this.buf[0] === 0x24) {
          if (this.buf.length < 5) return;
          for (let i = 1; i < 4; i++) {
            if (this.buf[i] !== EXI_HEADER[i]) throw new ExiError('not an EXI stream: bad EXI cookie');
          }
          off = 4;
        }
        const h = this.buf[off];
        if (h === undefined) return;
        if ((h & 0xc0) !== 0x80) throw new ExiError('not an EXI stream: distinguishing bits are not 10');
        if (h !== HEADER_BYTE) {
          throw new ExiUnsupportedError('EXI headers other than 0x80 (options documents, other versions)');
        }
        this.buf = this.buf.subarray(off + 1);
        this.expectHeader = false;
        continue;
      }
      if (this.buf.length > MAX_BODY_BYTES)
        throw new ExiError(`EXI body larger than ${MAX_BODY_BYTES} bytes`);
      // Each attempt decodes the body from its start: a long string arriving in TCP segments would be decoded
      // again with every segment (900 kB in 1,460-byte segments: 14 s). The decoder says how many bytes a string
      // that goes past the end needs at least; nothing can complete before they are here.
      if (this.buf.length < this.needed) return;
      // A session's decodeBody leaves the session unchanged when the body is incomplete.
      let res: { events: ExiEvent[]; size: number } | undefined;
      if (this.session) {
        res = this.session.decodeBody(this.buf);
        if (!res) this.needed = this.session.needed;
      } else {
        const incomplete = { needed: 0 };
        res = decodeBody(this.buf, this.opts, incomplete);
        if (!res) this.needed = incomplete.needed;
      }
      if (!res) {
        if (this.needed > MAX_BODY_BYTES) throw new ExiError(`EXI body larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      this.needed = 0;
      this.buf = this.buf.subarray(res.size);
      this.onBody(res.events, res.size);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// XML side helpers.

/** The qualified name of a body's root element. */
export function rootName(events: readonly ExiEvent[]): { uri: string; localName: string } {
  const se = events.find((e) => e.type === 'SE');
  if (!se || se.type !== 'SE') throw new ExiError('EXI body without an element');
  return { uri: se.uri, localName: se.localName };
}

export function isExi(events: readonly ExiEvent[], localName: string): boolean {
  const n = rootName(events);
  return n.uri === EXI_NS && n.localName === localName;
}

/** A minimal tree of a body, for reading setup / setupResponse / streamStart. */
export interface ExiNode {
  uri: string;
  localName: string;
  /** Attributes by local name (`xml:lang` as `xml:lang`). */
  attrs: Record<string, string>;
  children: ExiNode[];
}

export function toTree(events: readonly ExiEvent[]): ExiNode {
  const stack: ExiNode[] = [];
  let root: ExiNode | undefined;
  for (const e of events) {
    if (e.type === 'SE') {
      const node: ExiNode = { uri: e.uri, localName: e.localName, attrs: {}, children: [] };
      const parent = stack.at(-1);
      if (parent) parent.children.push(node);
      else root ??= node;
      stack.push(node);
    } else if (e.type === 'AT') {
      const top = stack.at(-1);
      if (top) top.attrs[e.uri === XML_NS ? `xml:${e.localName}` : e.localName] = e.value;
    } else if (e.type === 'EE') {
      stack.pop();
    }
  }
  if (!root) throw new ExiError('EXI body without an element');
  return root;
}

function escapeAttr(s: string): string {
  return escapeXML(s);
}

/** `<stream:stream …>` attributes and namespace declarations → `<exi:streamStart>` XML text. */
export function streamStartXml(attrs: Record<string, string | undefined>): string {
  let text = `<streamStart xmlns='${EXI_NS}'`;
  const decls: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (k === 'xmlns') decls.push(`<xmlns prefix='' namespace='${escapeAttr(v)}'/>`);
    else if (k.startsWith('xmlns:'))
      decls.push(`<xmlns prefix='${escapeAttr(k.slice(6))}' namespace='${escapeAttr(v)}'/>`);
    else if (k === 'xml:lang') text += ` xml:lang='${escapeAttr(v)}'`;
    else if (!k.includes(':')) text += ` ${k}='${escapeAttr(v)}'`;
  }
  return `${text}>${decls.join('')}</streamStart>`;
}

export const STREAM_END_XML = `<streamEnd xmlns='${EXI_NS}'/>`;

/** `<exi:streamStart>` events → the `<stream:stream …>` open tag (XML text). */
export function streamOpenTag(events: readonly ExiEvent[]): string {
  const node = toTree(events);
  const decls = new Map<string, string>();
  for (const c of node.children) {
    if (c.uri === EXI_NS && c.localName === 'xmlns' && c.attrs.namespace !== undefined) {
      const prefix = c.attrs.prefix ?? '';
      // The prefix is an attribute value of the client's: written as a name, it must be one.
      if (prefix !== '' && !isNCName(prefix))
        throw new ExiError(`streamStart: bad prefix '${prefix.slice(0, 64)}'`);
      decls.set(prefix, c.attrs.namespace);
    }
  }
  if (!decls.has('')) decls.set('', CLIENT_NS);
  if (!decls.has('stream')) decls.set('stream', STREAM_NS);
  let text = "<?xml version='1.0'?><stream:stream";
  for (const [p, ns] of decls) {
    if (p === 'xml') continue;
    text += ` ${p === '' ? 'xmlns' : `xmlns:${p}`}='${escapeAttr(ns)}'`;
  }
  for (const [k, v] of Object.entries(node.attrs)) text += ` ${k}='${escapeAttr(v)}'`;
  return `${text}>`;
}

/**
 * XML text of a top-level element with the namespace declarations it inherits from the stream root
 * (`xmlns='jabber:client'`, `xmlns:stream`) made explicit, so that it stands alone as an EXI document.
 */
export function standaloneXml(el: Element, rootAttrs: Record<string, string | undefined>): string {
  const attrs: Record<string, unknown> = { ...el.attrs };
  for (const [k, v] of Object.entries(rootAttrs)) {
    if (v === undefined) continue;
    if ((k === 'xmlns' || k.startsWith('xmlns:')) && attrs[k] === undefined) attrs[k] = v;
  }
  // A shallow copy that shares the children (not re-parented): only serialized.
  const copy = new Element(el.name, attrs);
  copy.children = el.children;
  return copy.toString();
}

// ---------------------------------------------------------------------------------------------
// Setup negotiation.

/** What the client proposes in `<setup>` besides the fixed options. */
export interface SetupProposal {
  sessionWideBuffers: boolean;
}

/**
 * String-table limits the client proposes with sessionWideBuffers: without them the value table of a session
 * would keep every value (ids, timestamps, readings) of a connection that lasts months. 64 is XEP-0322's
 * default valueMaxLength (longer values, such as SCRAM's, are not kept); the capacity is larger than its
 * default 64 so that the JIDs, node ids and field names of a readout cycle are not evicted by its readings.
 */
export const SESSION_VALUE_MAX_LENGTH = 64;
export const SESSION_VALUE_PARTITION_CAPACITY = 256;
/**
 * The most the server side accepts with sessionWideBuffers (less is taken as proposed; more, or none, is lowered
 * to these): at most 1,024 values of at most 256 characters kept per direction of a connection.
 */
export const SESSION_VALUE_MAX = { valueMaxLength: 256, valuePartitionCapacity: 1024 } as const;

/** The client's `<setup>`: our bit-packed, non-strict options and the schemas we have. */
export function setupXml(
  schemas: readonly SchemaFileInfo[] = knownSchemas(),
  proposal: SetupProposal = { sessionWideBuffers: true },
): string {
  const items = schemas
    .map((s) => `<schema ns='${s.ns}' bytes='${s.bytes}' md5Hash='${s.md5Hash}'/>`)
    .join('');
  const limits = proposal.sessionWideBuffers
    ? ` valueMaxLength='${SESSION_VALUE_MAX_LENGTH}' valuePartitionCapacity='${SESSION_VALUE_PARTITION_CAPACITY}'`
    : '';
  return (
    `<setup xmlns='${EXI_NS}' version='1' alignment='bit-packed' compression='false' strict='false'` +
    ` sessionWideBuffers='${proposal.sessionWideBuffers}'${limits}>${items}</setup>`
  );
}

/**
 * The server side of setup: what we accept of a proposal. Schemas must match namespace, byte size and
 * MD5; options we do not support are lowered to what we do (and `agreement` is then false).
 */
export function answerSetup(
  setup: ExiNode,
  have: readonly SchemaFileInfo[] = knownSchemas(),
): { xml: string; agreed: BindingOptions; agreement: boolean } {
  const a = setup.attrs;
  let agreement = true;
  const want = (name: string, value: string, dflt: string) => {
    if ((a[name] ?? dflt) !== value) agreement = false;
  };
  want('version', '1', '1');
  want('alignment', 'bit-packed', 'bit-packed');
  want('compression', 'false', 'false');
  want('strict', 'false', 'true'); // XEP-0322's default is strict; we only do strict=false
  for (const p of [
    'preserveComments',
    'preservePIs',
    'preserveDTD',
    'preservePrefixes',
    'preserveLexical',
    'selfContained',
  ]) {
    want(p, 'false', 'false');
  }
  if (a.configurationId !== undefined || a.configurationLocation !== undefined) agreement = false;
  // Both values are supported: the client's choice is taken.
  const sessionWideBuffers = a.sessionWideBuffers === 'true';
  const agreed: BindingOptions = { schemas: [], sessionWideBuffers };
  let extra = '';
  for (const k of ['valueMaxLength', 'valuePartitionCapacity'] as const) {
    const v = a[k];
    let n = v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    // A session's value table lives as long as the connection: its size is ours to bound, not the client's.
    if (sessionWideBuffers && (n === undefined || n > SESSION_VALUE_MAX[k])) {
      n = SESSION_VALUE_MAX[k];
      agreement = false;
    }
    if (n !== undefined) {
      agreed[k] = n;
      extra += ` ${k}='${n}'`;
    }
  }
  const proposed: { attrs: string; id: IotSchemaId | undefined }[] = [];
  for (const c of setup.children) {
    if (c.uri !== EXI_NS || c.localName !== 'schema') continue;
    const { ns = '', bytes = '', md5Hash = '' } = c.attrs;
    const found = have.find(
      (h) => h.ns === ns && String(h.bytes) === bytes && h.md5Hash === md5Hash.toLowerCase(),
    );
    const attrs = `ns='${escapeAttr(ns)}' bytes='${escapeAttr(bytes)}' md5Hash='${escapeAttr(md5Hash)}'`;
    proposed.push({ attrs, id: found?.id });
  }
  // A schema whose dependency was not proposed cannot be compiled: answered as missing.
  const usable = usableSchemas(proposed.flatMap((p) => (p.id ? [p.id] : [])));
  let items = '';
  for (const { attrs, id } of proposed) {
    if (id && usable.includes(id)) {
      agreed.schemas.push(id);
      items += `<schema ${attrs}/>`;
    } else {
      agreement = false;
      items += `<missingSchema ${attrs}/>`;
    }
  }
  const xmlText =
    `<setupResponse xmlns='${EXI_NS}' version='1' alignment='bit-packed' compression='false' strict='false'` +
    ` sessionWideBuffers='${sessionWideBuffers}'${extra} agreement='${agreement}'>${items}</setupResponse>`;
  return { xml: xmlText, agreed, agreement };
}

/** The client side: the options a `<setupResponse>` gives. */
export function readSetupResponse(
  resp: ExiNode,
  have: readonly SchemaFileInfo[] = knownSchemas(),
): BindingOptions {
  const a = resp.attrs;
  if (
    (a.alignment ?? 'bit-packed') !== 'bit-packed' ||
    a.compression === 'true' ||
    (a.strict ?? 'true') !== 'false'
  ) {
    throw new ExiUnsupportedError(
      'setupResponse with options other than bit-packed, no compression, strict=false',
    );
  }
  const agreed: BindingOptions = { schemas: [], sessionWideBuffers: a.sessionWideBuffers === 'true' };
  for (const k of ['valueMaxLength', 'valuePartitionCapacity'] as const) {
    const v = a[k];
    if (v !== undefined && /^\d+$/.test(v)) agreed[k] = Number(v);
  }
  for (const c of resp.children) {
    if (c.uri !== EXI_NS || c.localName !== 'schema') continue;
    const found = have.find(
      (h) => h.ns === c.attrs.ns && String(h.bytes) === c.attrs.bytes && h.md5Hash === c.attrs.md5Hash,
    );
    if (found) agreed.schemas.push(found.id);
  }
  agreed.schemas = usableSchemas(agreed.schemas);
  return agreed;
}

// ---------------------------------------------------------------------------------------------
// The @xmpp/client transport.

interface SocketParameters {
  host: string;
  port: number;
  /** XEP-0322 sessionWideBuffers to propose in setup: true unless `?sessionWideBuffers=false`. */
  sessionWideBuffers: boolean;
}

/**
 * Parses `exi://host:port[?sessionWideBuffers=false]` (port defaults to 5222, like the XML binding).
 */
export function exiSocketParameters(service: string): SocketParameters | undefined {
  if (!service.startsWith('exi://')) return undefined;
  const { hostname, port, searchParams } = new URL(service);
  const swb = searchParams.get('sessionWideBuffers');
  if (swb !== null && swb !== 'true' && swb !== 'false') {
    throw new ExiError(`exi:// service: sessionWideBuffers must be true or false, not '${swb}'`);
  }
  return {
    host: hostname === '[::1]' ? '::1' : hostname,
    port: port ? Number(port) : 5222,
    sessionWideBuffers: swb !== 'false',
  };
}

/**
 * The byte side of the transport (see the file header): a TCP socket that speaks EXI/XMPP on the wire
 * and XML text towards @xmpp/connection. 'connect' is emitted once setup/setupResponse is done.
 */
export class ExiSocket extends EventEmitter {
  secure = false;
  private sock: NetSocket | undefined;
  private readonly writer = new ExiBodyWriter();
  private readonly reader = new ExiBodyReader((events) => this.onBody(events));
  private negotiating = false;
  /** Bytes on the wire, for measurements. */
  readonly bytes = { in: 0, out: 0 };

  connect(params: SocketParameters): this {
    const sock = netConnect({ host: params.host, port: params.port });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      this.negotiating = true;
      this.sendRaw(
        this.writer.element(setupXml(knownSchemas(), { sessionWideBuffers: params.sessionWideBuffers })),
      );
    });
    sock.on('data', (chunk: Buffer) => {
      this.bytes.in += chunk.length;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.emit('error', err);
        sock.destroy();
      }
    });
    sock.on('error', (err) => this.emit('error', err));
    sock.on('close', (hadError: boolean) => this.emit('close', hadError));
    return this;
  }

  private onBody(events: ExiEvent[]): void {
    if (this.negotiating) {
      if (!isExi(events, 'setupResponse'))
        throw new ExiError('expected <setupResponse/> from the EXI server');
      const agreed = readSetupResponse(toTree(events));
      this.reader.restart(agreed);
      this.writer.restart(agreed);
      this.negotiating = false;
      this.emit('connect');
      return;
    }
    if (isExi(events, 'streamStart')) this.emit('data', streamOpenTag(events));
    else if (isExi(events, 'streamEnd')) this.emit('data', '</stream:stream>');
    else this.emit('data', serializeXml(events));
  }

  private sendRaw(bytes: Uint8Array, cb?: (err?: Error | null) => void): void {
    this.bytes.out += bytes.length;
    this.sock?.write(bytes, cb);
  }

  /** Takes one complete XML element per call (see ExiConnection) and sends it as one EXI body. */
  write(data: string, cb?: (err?: Error | null) => void): boolean {
    let bytes: Uint8Array;
    try {
      bytes = this.writer.element(data);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (cb) cb(e);
      else this.emit('error', e);
      return false;
    }
    this.sendRaw(bytes, cb);
    return true;
  }

  end(): this {
    this.sock?.end();
    return this;
  }

  destroy(): this {
    this.sock?.destroy();
    return this;
  }

  setNoDelay(v = true): this {
    this.sock?.setNoDelay(v);
    return this;
  }
}

/** @xmpp/xml's Parser: ExiSocket has already turned the EXI bodies into XML text. */
export class ExiParser extends Parser {}

/**
 * The transport class for `entity.transports`. @xmpp/client calls these methods on the prototype
 * (header/footer/socketParameters) or with the client as `this` (send/sendMany).
 */
export class ExiConnection extends Connection {
  override socketParameters(service: string): SocketParameters | undefined {
    return exiSocketParameters(service);
  }

  override headerElement(): Element {
    return new Element('stream:stream', { version: '1.0', xmlns: CLIENT_NS, 'xmlns:stream': STREAM_NS });
  }

  override header(el: Element): string {
    return streamStartXml(el.attrs as Record<string, string | undefined>);
  }

  override footerElement(): Element {
    return new Element('streamEnd', { xmlns: EXI_NS });
  }

  override footer(): string {
    return STREAM_END_XML;
  }

  override async send(element: Element): Promise<void> {
    // `this` is the client here (Client.send calls Transport.prototype.send with it), so no private helpers.
    element.parent = this.root;
    const rootAttrs = (this.root?.attrs as Record<string, string | undefined> | undefined) ?? {
      xmlns: CLIENT_NS,
    };
    await this.write(standaloneXml(element, rootAttrs));
    this.emit('send', element);
  }

  async sendMany(elements: Element[]): Promise<void> {
    for (const element of elements) await this.send(element);
  }
}

(ExiConnection.prototype as { NS: string }).NS = STREAM_NS;
(ExiConnection.prototype as unknown as { Socket: unknown }).Socket = ExiSocket;
(ExiConnection.prototype as unknown as { Parser: unknown }).Parser = ExiParser;

/** Registers the `exi://` transport on an @xmpp/client instance (call right after `client()`). */
export function setupExiTransport(entity: object): void {
  const transports = (entity as { transports?: unknown[] }).transports;
  if (!Array.isArray(transports)) throw new Error('not an @xmpp/client entity (no transports list)');
  if (!transports.includes(ExiConnection)) transports.unshift(ExiConnection);
}
