/**
 * XMPP over WebSocket (RFC 7395) for @xmpp/client 0.14 on every Node version in `engines` (issue 18).
 *
 * @xmpp/websocket's socket calls the global `WebSocket`, which Node 20 lacks ("WebSocket is not defined").
 * Its connection class takes the socket class from its prototype (`Connection.prototype.Socket`), so we
 * register a subclass whose socket is the `ws` package, in place of the original, on one client only (no
 * global is touched). We use `ws` on every Node version, also where Node has a global WebSocket (22+):
 * - what the tests exercise on Node 20 is what runs everywhere;
 * - a failure keeps its reason: `ws` reports the TLS error (`DEPTH_ZERO_SELF_SIGNED_CERT`,
 *   `ERR_TLS_CERT_ALTNAME_INVALID`, …) and the HTTP status of a refused upgrade; Node's WebSocket (undici)
 *   reports a bare `error` event without either;
 * - `ws` gives us the TCP/TLS socket underneath, for backpressure and the TLS version (`xiot check --online`).
 * Differences from @xmpp/websocket's socket: `secure` only for `wss://` (PLAIN is never chosen on `ws://`,
 * not even on loopback: README, Security), no permessage-deflate (compression under TLS leaks secrets, and
 * neither Prosody nor ejabberd needs it), frames bounded by `maxPayload`, and `destroy()` drops the socket
 * at once instead of waiting for a closing handshake from a dead peer.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';

/** A refused upgrade or a protocol problem: retrying soon will not fix it (see `classify` in transport.ts). */
export class WebSocketSetupError extends Error {
  readonly code = 'WEBSOCKET_SETUP';
}

export interface WebSocketOptions {
  /** Largest frame accepted (ws closes the connection with 1009 beyond it); one frame is one stanza. */
  maxPayload: number;
  /** Time allowed for the TCP/TLS connection and the HTTP upgrade. */
  handshakeTimeoutMs: number;
}

/** The socket interface @xmpp/connection drives: connect/write/end, events connect/data/error/close. */
export class WsSocket extends EventEmitter {
  url: string | null = null;
  secure = false;
  socket: WebSocket | null = null;
  /** The TCP or TLS socket under the WebSocket, once upgraded (backpressure, TLS version). */
  stream: net.Socket | null = null;

  constructor(private readonly options: WebSocketOptions) {
    super();
  }

  connect(url: string): void {
    this.url = url;
    this.secure = url.startsWith('wss:');
    const ws = new WebSocket(url, ['xmpp'], {
      perMessageDeflate: false,
      maxPayload: this.options.maxPayload,
      handshakeTimeout: this.options.handshakeTimeoutMs,
    });
    this.socket = ws;
    ws.on('upgrade', (res: IncomingMessage) => {
      if (res.socket instanceof net.Socket) this.stream = res.socket;
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume();
      this.emit('error', refusedUpgrade(url, res.statusCode ?? 0));
      ws.terminate(); // ws leaves a refused handshake to us: close it (emits 'close')
    });
    ws.on('open', () => this.emit('connect'));
    // RFC 7395 §3.3.3: text frames, one element each.
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.emit(
        'data',
        (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8'),
      );
    });
    ws.on('error', (err: Error & { url?: string }) => {
      err.url = url;
      this.emit('error', describeError(url, err, this.options.maxPayload));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.socket === ws) this.socket = null;
      this.stream = null;
      this.emit('close', code !== 1000, { code, reason: reason.toString('utf8') });
    });
  }

  end(): void {
    this.socket?.close(1000);
  }

  destroy(): void {
    this.socket?.terminate();
  }

  write(data: string, fn?: (err?: Error) => void): void {
    const ws = this.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (fn) queueMicrotask(() => fn(new Error('WebSocket is not open')));
      return;
    }
    ws.send(data, (err) => fn?.(err ?? undefined));
  }

  /** TLS version of a `wss://` connection (`TLSv1.3`), else undefined. */
  tlsVersion(): string | undefined {
    return this.stream instanceof tls.TLSSocket ? (this.stream.getProtocol() ?? undefined) : undefined;
  }
}

function endpointHint(url: string): string {
  return (
    `is ${new URL(url).pathname} the server's XMPP WebSocket endpoint? ` +
    'Prosody: mod_websocket, /xmpp-websocket on its http(s) port; ejabberd: ejabberd_http_ws in an ' +
    'ejabberd_http listener\'s request_handlers (e.g. "/xmpp-websocket" or "/ws")'
  );
}

function refusedUpgrade(url: string, status: number): WebSocketSetupError {
  return new WebSocketSetupError(
    `WebSocket upgrade to ${url} refused with HTTP ${status} (${endpointHint(url)})`,
  );
}

/** ws's own errors, made to say what to fix; TLS and network errors (with a `code`) pass unchanged. */
function describeError(url: string, err: Error & { code?: string }, maxPayload: number): Error {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
    return Object.assign(
      new Error(
        `${url} sent a WebSocket frame over ${maxPayload} bytes (4 × maxStanzaBytes): connection dropped`,
      ),
      { code: err.code },
    );
  if (/subprotocol/i.test(err.message))
    return new WebSocketSetupError(
      `${url} is not an XMPP WebSocket endpoint (${err.message}: RFC 7395 needs the "xmpp" subprotocol; ${endpointHint(url)})`,
    );
  if (/Opening handshake has timed out/.test(err.message))
    return Object.assign(new Error(`WebSocket handshake with ${url} timed out`), { code: 'ETIMEDOUT' });
  return err;
}

interface XmppEntity {
  transports?: Array<{ prototype: { socketParameters(service: string): unknown } }>;
}

/**
 * Replaces @xmpp/websocket's connection class in this client's transports by one using `ws` (see header).
 * Idempotent.
 */
export function setupWebSocketTransport(entity: object, options: WebSocketOptions): void {
  const transports = (entity as XmppEntity).transports;
  if (!Array.isArray(transports)) throw new Error('not an @xmpp/client entity (no transports list)');
  const index = transports.findIndex((T) => {
    try {
      return T.prototype.socketParameters('ws://localhost/') !== undefined;
    } catch {
      return false;
    }
  });
  if (index < 0) throw new Error('@xmpp/client has no WebSocket transport to replace');
  const Base = transports[index] as unknown as new (...args: unknown[]) => object;
  if ((Base as { wsReplacement?: boolean }).wsReplacement) return;
  class Socket extends WsSocket {
    constructor() {
      super(options);
    }
  }
  class WsConnection extends Base {
    static wsReplacement = true;
  }
  (WsConnection.prototype as { Socket: unknown }).Socket = Socket;
  transports[index] = WsConnection as unknown as (typeof transports)[number];
}
