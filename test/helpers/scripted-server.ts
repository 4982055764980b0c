/**
 * A scripted XMPP server on loopback for transport tests: it opens the stream, offers `features`
 * (default: resource binding only, no authentication), binds any resource, and hands every other
 * element to the test's `onElement`. Tests use it for what a real server will not do on demand:
 * answering before our write completes, garbage, refusing to read, odd features.
 */
import net from 'node:net';
import { Parser, type Element } from '@xmpp/xml';

export interface ScriptedConnection {
  /** 0 for the first connection accepted, 1 for the next, … */
  readonly index: number;
  readonly socket: net.Socket;
  /** Writes raw text (no framing, no escaping). */
  write(text: string): void;
  /** Sends a reply to `iq` of the given type with optional inner XML. */
  reply(iq: Element, type: 'result' | 'error', inner?: string): void;
  /** Elements received on this connection, in order. */
  readonly received: Element[];
  /** Bytes received on this connection. */
  bytesIn: number;
}

export interface ScriptedServerOptions {
  /** Inner XML of `<stream:features>` after the stream opens (default: `<bind/>`). */
  features?: string | ((conn: ScriptedConnection, restarts: number) => string);
  /** Called for every element except the bind request (answered by the server). */
  onElement?: (el: Element, conn: ScriptedConnection) => void;
  /** Called when a connection is accepted (before anything is read). */
  onConnection?: (conn: ScriptedConnection) => void;
  /** Close each new connection at once (server "down" while the port accepts); may be changed at any time. */
  refuse?: boolean;
}

export interface ScriptedServer {
  readonly port: number;
  readonly service: string;
  readonly connections: ScriptedConnection[];
  /** When each TCP connection was accepted (ms timestamps), refused ones included. */
  readonly accepted: number[];
  close(): Promise<void>;
}

const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';
export const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';

export function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

export async function startScriptedServer(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const connections: ScriptedConnection[] = [];
  const accepted: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    accepted.push(Date.now());
    if (options.refuse) {
      socket.destroy();
      return;
    }
    let parser = new Parser();
    let restarts = 0;
    let started = false;
    const conn: ScriptedConnection = {
      index: connections.length,
      socket,
      received: [],
      bytesIn: 0,
      write(text) {
        if (!socket.destroyed) socket.write(text);
      },
      reply(iq, type, inner = '') {
        const to = iq.attrs.from ? ` to='${escapeAttr(String(iq.attrs.from))}'` : '';
        conn.write(`<iq type='${type}' id='${escapeAttr(String(iq.attrs.id))}'${to}>${inner}</iq>`);
      },
    };
    connections.push(conn);
    const attach = () => {
      parser.on('start', () => {
        started = true;
        conn.write(
          "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
            "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>",
        );
        const features =
          typeof options.features === 'function'
            ? options.features(conn, restarts)
            : (options.features ?? `<bind xmlns='${BIND_NS}'/>`);
        conn.write(`<stream:features>${features}</stream:features>`);
      });
      parser.on('element', (el: Element) => {
        conn.received.push(el);
        if (el.is('iq') && el.getChild('bind', BIND_NS)) {
          const resource = el.getChild('bind', BIND_NS)?.getChildText('resource') ?? 'r1';
          conn.reply(el, 'result', `<bind xmlns='${BIND_NS}'><jid>agent@localhost/${resource}</jid></bind>`);
          return;
        }
        if (el.is('auth', SASL_NS) || el.is('success', SASL_NS)) {
          // Only reached when a test offers mechanisms and does not script them: refuse.
          if (!options.onElement) conn.write(`<failure xmlns='${SASL_NS}'><not-authorized/></failure>`);
        }
        options.onElement?.(el, conn);
      });
      parser.on('end', () => socket.end('</stream:stream>'));
      parser.on('error', () => socket.destroy());
    };
    attach();
    socket.on('data', (data: Buffer) => {
      conn.bytesIn += data.length;
      const text = data.toString('utf8');
      // A new stream header (after SASL success) restarts the stream: a fresh parser.
      const restartAt = started ? text.indexOf('<stream:stream') : -1;
      if (restartAt >= 0) {
        parser.write(text.slice(0, restartAt));
        parser = new Parser();
        started = false;
        restarts++;
        attach();
        parser.write(text.slice(restartAt));
        return;
      }
      parser.write(text);
    });
    options.onConnection?.(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    service: `xmpp://127.0.0.1:${port}`,
    connections,
    accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
