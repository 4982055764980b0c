/**
 * The hub's EXI gateway: accepts XEP-0322 alternative-binding (binary EXI/XMPP over TCP) client
 * connections and relays each one, as ordinary XML, over its own plain TCP connection to the upstream
 * XMPP server's c2s port. The upstream server authenticates the agent itself (SASL and bind go through
 * like any other element); the rest of the network sees ordinary XMPP.
 *
 * Framing on the EXI side (details in src/xmpp/exi-connection.ts and docs/exi.md "Binding"):
 * `$EXI` cookie + the one-byte EXI header (0x80: no options document), then one EXI body per element,
 * bit-packed and zero-padded to a byte boundary as XEP-0322 §3.3 says. There is no length prefix: the
 * decoder finds the end of each body itself (it stops at ED), and an incomplete body waits for more
 * bytes. A new cookie + header follows `<setup>` (client) / `<setupResponse>` (gateway).
 *
 * XEP-0322 sessionWideBuffers is accepted when the client proposes it (our agents do by default): from the
 * new header on, each direction of the connection is one EXI session whose string tables and learned grammars
 * carry over from body to body, until the connection ends. Stream restarts (after SASL) keep them: the EXI
 * session is the connection, as XEP-0322 says ("all string tables and buffers must be cleared when a
 * connection is lost").
 *
 * Translation, per client connection:
 *   EXI `<exi:setup>`        → answered here with `<exi:setupResponse>` (not relayed)
 *   EXI `<exi:streamStart>`  → `<?xml version='1.0'?><stream:stream …>` upstream (also on restarts after SASL)
 *   EXI element              → its XML upstream
 *   EXI `<exi:streamEnd>`    → `</stream:stream>` upstream
 *   upstream stream open     → `<exi:streamStart>` (parsed with @xmpp/xml's Parser, a new one per stream)
 *   upstream element         → one EXI body (namespaces inherited from the stream root made explicit)
 *   upstream stream close    → `<exi:streamEnd>`
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { type Element, Parser } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ExiError, type ExiEvent, parseXml, serializeXml } from 'exi4js';
import {
  answerSetup,
  EXI_NS,
  ExiBodyReader,
  ExiBodyWriter,
  isExi,
  STREAM_END_XML,
  STREAM_NS,
  streamOpenTag,
  streamStartXml,
  toTree,
} from '../xmpp/exi-connection.js';
import { elementEvents } from '../xmpp/exi-ltx.js';

export interface ExiGatewayOptions {
  listen: { host: string; port: number };
  upstream: { host: string; port: number };
  log: Logger;
}

export interface ExiGatewayStats {
  /** Client connections accepted so far, and open now. */
  connections: number;
  open: number;
  /** Bytes read from / written to EXI clients. */
  exiIn: number;
  exiOut: number;
  /** Bytes written to / read from the upstream XML server. */
  xmlOut: number;
  xmlIn: number;
  /** Top-level elements relayed client→upstream and upstream→client (stream open/close included). */
  elementsUp: number;
  elementsDown: number;
  /** Connections whose setup agreed on sessionWideBuffers. */
  sessionWide: number;
  /** Connections ended because a client body did not decode (or did not relay as exactly one element). */
  rejected: number;
}

/** The events that matter for what an element means: no NS events, no prefixes, adjacent text merged. */
function contentOf(events: readonly ExiEvent[]): string[] {
  const out: string[] = [];
  let text: string | undefined;
  for (const e of events) {
    if (e.type === 'CH') {
      text = (text ?? '') + e.value;
      continue;
    }
    if (text !== undefined) {
      if (text !== '') out.push(`CH ${text}`);
      text = undefined;
    }
    if (e.type === 'SE') out.push(`SE {${e.uri}}${e.localName}`);
    else if (e.type === 'AT') out.push(`AT {${e.uri}}${e.localName}=${e.value}`);
    else if (e.type === 'EE') out.push('EE');
    else if (e.type === 'CM') out.push(`CM ${e.text}`);
    else if (e.type === 'PI') out.push(`PI ${e.target} ${e.data}`);
  }
  return out;
}

/**
 * The XML text a client's element becomes upstream, where it lands in a stream shared with the server: a
 * decoded name such as `a x="1"/><injected/><b`, written out as it is, would make one EXI element three XML
 * elements, written by the client but not decoded by us. serializeXml checks every name, declaration, comment
 * and character it writes, so its text is already well-formed; the gateway still does not rely on one function
 * alone, because it is the place where a gap would become an injection into the XMPP stream. The text is parsed
 * again by our own tokenizer and must give back exactly the decoded elements, attributes and text (one root
 * element, same names, same values). Forwarding a tree instead would not help: an ltx Element writes its names
 * unchecked just the same. The re-parse costs a few µs per stanza, next to the tens the decode costs.
 */
export function upstreamXml(events: readonly ExiEvent[]): string {
  const text = serializeXml(events);
  let again: ExiEvent[];
  try {
    again = parseXml(text);
  } catch (err) {
    throw new ExiError(`decoded element does not serialize to well-formed XML: ${errorMessage(err)}`);
  }
  const a = contentOf(events);
  const b = contentOf(again);
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    throw new ExiError('decoded element does not serialize to the same one element');
  }
  return text;
}

export interface ExiGateway {
  readonly port: number;
  stop(): Promise<void>;
  stats(): ExiGatewayStats;
}

export async function startExiGateway(options: ExiGatewayOptions): Promise<ExiGateway> {
  const { log } = options;
  const stats: ExiGatewayStats = {
    connections: 0,
    open: 0,
    exiIn: 0,
    exiOut: 0,
    xmlOut: 0,
    xmlIn: 0,
    elementsUp: 0,
    elementsDown: 0,
    sessionWide: 0,
    rejected: 0,
  };
  const sockets = new Set<Socket>();

  const onClient = (client: Socket): void => {
    stats.connections++;
    stats.open++;
    const id = stats.connections;
    const clog = log.child({ exiConn: id });
    client.setNoDelay(true);
    sockets.add(client);
    const upstream = netConnect({ host: options.upstream.host, port: options.upstream.port });
    upstream.setNoDelay(true);
    sockets.add(upstream);
    const writer = new ExiBodyWriter();
    let streamStarted = false;
    let closed = false;
    let parser: Parser | undefined;
    let rootAttrs: Record<string, string | undefined> = {};
    const decoder = new StringDecoder('utf8');

    /**
     * A body that does not decode (malformed, a name that is not a name, a limit exceeded) ends the connection:
     * bodies have no length prefix, so there is no next body to resume at, and with sessionWideBuffers the
     * string tables of both ends would disagree from here on. The client gets a stream error (RFC 6120 §4.9.3:
     * `policy-violation` for a limit, `bad-format` otherwise) and the end of the stream; upstream gets nothing
     * of the bad body, only the end of its stream.
     */
    const failClient = (err: unknown): void => {
      if (closed) return;
      const condition =
        (err as { code?: string }).code === 'IOT_ERR_EXI_LIMIT' ? 'policy-violation' : 'bad-format';
      clog.warn({ err: errorMessage(err), condition }, 'exi gateway: bad EXI from client');
      stats.rejected++;
      try {
        toClient(
          `<error xmlns='${STREAM_NS}'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>`,
        );
        toClient(STREAM_END_XML);
      } catch (e) {
        clog.debug({ err: errorMessage(e) }, 'exi gateway: stream error not sent');
      }
      if (streamStarted) toUpstreamRaw('</stream:stream>');
      close('client EXI error');
    };

    const close = (why: string): void => {
      if (closed) return;
      closed = true;
      stats.open--;
      clog.debug({ why }, 'exi gateway connection closed');
      client.end();
      upstream.end();
      // Sockets that do not finish closing on their own are destroyed.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 1000).unref();
    };

    /** XML text, or the events of an upstream element (elementEvents: no text round trip). */
    const toClient = (xml: string | ExiEvent[]): void => {
      if (closed) return;
      const bytes = typeof xml === 'string' ? writer.element(xml) : writer.body(xml);
      stats.exiOut += bytes.length;
      stats.elementsDown++;
      client.write(bytes);
    };
    const toUpstreamRaw = (xmlText: string): void => {
      if (closed) return;
      const bytes = Buffer.from(xmlText, 'utf8');
      stats.xmlOut += bytes.length;
      upstream.write(bytes);
    };
    const toUpstream = (xmlText: string): void => {
      if (closed) return;
      stats.elementsUp++;
      toUpstreamRaw(xmlText);
    };

    const newUpstreamParser = (): Parser => {
      const p = new Parser();
      p.on('start', (el: Element) => {
        rootAttrs = el.attrs as Record<string, string | undefined>;
        toClient(streamStartXml(rootAttrs));
      });
      p.on('element', (el: Element) => toClient(elementEvents(el, rootAttrs)));
      p.on('end', () => toClient(STREAM_END_XML));
      p.on('error', (err: Error) => {
        clog.warn({ err: errorMessage(err) }, 'exi gateway: bad XML from upstream');
        close('upstream XML error');
      });
      return p;
    };

    const onBody = (events: ExiEvent[]): void => {
      if (isExi(events, 'setup')) {
        if (streamStarted) {
          // Re-negotiating would need the upstream XML stream to restart, which XMPP only allows after
          // TLS/SASL: refuse (the XEP lets the server decline) and keep the current options.
          toClient(`<setupResponse xmlns='${EXI_NS}' agreement='false'/>`);
          return;
        }
        const answer = answerSetup(toTree(events));
        const { schemas, sessionWideBuffers } = answer.agreed;
        clog.debug({ agreement: answer.agreement, schemas, sessionWideBuffers }, 'exi setup');
        if (sessionWideBuffers) stats.sessionWide++;
        toClient(answer.xml);
        writer.restart(answer.agreed);
        reader.restart(answer.agreed);
        return;
      }
      if (isExi(events, 'streamStart')) {
        streamStarted = true;
        // A (re)opened stream: whatever upstream sends from now on belongs to the new stream.
        parser = newUpstreamParser();
        toUpstream(streamOpenTag(events));
        return;
      }
      if (isExi(events, 'streamEnd')) {
        toUpstream('</stream:stream>');
        return;
      }
      toUpstream(upstreamXml(events));
    };
    const reader = new ExiBodyReader(onBody);

    client.on('data', (chunk: Buffer) => {
      stats.exiIn += chunk.length;
      if (closed) return;
      try {
        reader.push(chunk);
      } catch (err) {
        failClient(err);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      stats.xmlIn += chunk.length;
      const text = decoder.write(chunk);
      if (!parser) {
        clog.warn({}, 'exi gateway: upstream data before a stream was opened');
        return;
      }
      try {
        parser.write(text);
      } catch (err) {
        clog.warn({ err: errorMessage(err) }, 'exi gateway: upstream parse failure');
        close('upstream XML error');
      }
    });
    client.on('error', (err) => clog.debug({ err: errorMessage(err) }, 'exi client socket error'));
    upstream.on('error', (err) =>
      clog.warn({ err: errorMessage(err) }, 'exi gateway: upstream socket error'),
    );
    client.on('close', () => {
      sockets.delete(client);
      close('client closed');
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      close('upstream closed');
    });
  };

  const server: Server = createServer(onClient);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.listen.port;
  log.info({ port, upstream: options.upstream }, 'exi gateway listening');

  return {
    port,
    stats: () => ({ ...stats }),
    stop: async () => {
      const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      sockets.clear();
      await closedServer;
    },
  };
}
