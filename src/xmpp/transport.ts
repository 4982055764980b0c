/**
 * The XMPP connection: @xmpp/client 0.14 plus what it lacks for an unattended device.
 * - Our own connection loop (issue 12): one schedule per failure, exponential backoff with jitter whose
 *   length depends on the failure (the network: short, to be back within seconds of the server; a refused
 *   login, no usable mechanism, no TLS: long, logged with its reason at every attempt; `conflict`: longer
 *   still, so that two clients on one resource do not fight). Also when the very first connection fails.
 * - TLS policy (`tls`): `required` never authenticates on an unencrypted stream; `off` ignores STARTTLS.
 *   The certificate is verified against the XMPP domain (STARTTLS: @xmpp/starttls passes the domain as
 *   `host`; xmpps://: we set `servername`).
 * - Our own IQ caller: @xmpp/iq's leaves a rejection unhandled when the answer beats the write callback.
 *   `request(iq, 0)` waits without a timer while the stream is up; going offline rejects with
 *   XmppOfflineError. Liveness is judged by XEP-0199 keepalive pings and "no inbound bytes at all".
 * - Bounded memory (issue 13): stanzas over `maxStanzaBytes` are never buffered whole nor parsed (see
 *   stanza-framer.ts; over WebSocket a frame is one stanza: frames over 4 × `maxStanzaBytes` close the
 *   connection, smaller ones over the limit are dropped unparsed), reading stops while more than
 *   `maxQueuedBytes` wait to be written, and error replies never echo the request's payload (RFC 6120 §8.3.1).
 * - Transports (issue 18): `xmpp://` (STARTTLS), `xmpps://` (direct TLS), `ws://`/`wss://` (RFC 7395, through
 *   the `ws` package on every Node version: websocket.ts), `exi://` (XEP-0322, exi-connection.ts). The last two
 *   are loaded on first start only when used.
 * - TCP_NODELAY on the socket: without it Nagle adds ~20 ms per round trip (environment.md, latency table).
 * - XEP-0198 is not negotiated: 0.14's stream management miscounts iq results and Prosody then kills the
 *   stream (environment.md). Delivery is guaranteed by acked publishes and the store's outbox instead.
 * - IQ requests to our handlers (`handleIq`) and answers to our requests are routed before @xmpp/client's
 *   middleware, and its outgoing middleware (XEP-0198's filter only) is not run: per stanza they cost a third of
 *   the agent's CPU per readout and a tenth per publish (issue 12). Everything else still goes through
 *   @xmpp/client.
 * - Stanza tracing at log level `trace`, with SASL payloads redacted (PLAIN carries the password in base64).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { client, jid as parseJid, xml } from '@xmpp/client';
import { Element } from '@xmpp/xml';
import { backoffDelay } from '../core/duration.js';
import { errorMessage, IotError, XmppOfflineError, XmppTimeoutError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { NS } from './ns.js';
import { createStanzaFramer, readStanzaHead } from './stanza-framer.js';

/** `required`: never authenticate without encryption; `optional`: STARTTLS when offered; `off`: never. */
export type TlsPolicy = 'required' | 'optional' | 'off';
export const TLS_POLICIES: readonly TlsPolicy[] = ['required', 'optional', 'off'];

export interface TransportOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Backoff between attempts after a network failure (default 1 s … 8 s, see DEFAULT_RECONNECT). */
  reconnect?: { minMs: number; maxMs: number };
  timeoutMs?: number;
  /** Default: `required`, or `optional` when the service's host is loopback (`defaultTlsPolicy`). */
  tls?: TlsPolicy;
  /** Ping the server after `intervalMs` without inbound data; dead after `timeoutMs` more of silence. */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /** Inbound stanzas larger than this are dropped unparsed (IQ get/set: `policy-violation`). */
  maxStanzaBytes?: number;
  /** Stop reading from the socket while more than this waits to be written. */
  maxQueuedBytes?: number;
}

/**
 * Network failures: back within 10 s of the server accepting connections again (issue 12) needs the
 * longest wait ≤ 8 s (full jitter keeps it in [4, 8] s); a refused TCP connect costs a server nothing.
 */
export const DEFAULT_RECONNECT = { minMs: 1000, maxMs: 8000 };
/**
 * A refused login, no usable mechanism, no TLS: not fixed by retrying fast, and every attempt is logged.
 * From 5 × reconnect.min (5 s by default) up to 5 min.
 */
const REFUSED_BACKOFF = { minFactor: 5, maxMs: 5 * 60_000 };
/** `conflict`: another client took our resource. From 60 × reconnect.min (30–60 s by default) up to 15 min. */
const CONFLICT_BACKOFF = { minFactor: 60, maxMs: 15 * 60_000 };
/** Conflicts are forgotten once a session has lasted this long. */
const CONFLICT_MEMORY_MS = 10 * 60_000;
/**
 * Ping after 60 s of silence (a few bytes a minute); dead after 30 s more without a single inbound byte.
 * 30 s is well above what a full publish window takes under ejabberd's default shaper (3000 B/s: ~10 s).
 */
export const DEFAULT_KEEPALIVE = { intervalMs: 60_000, timeoutMs: 30_000 };
/** Prosody's and ejabberd's own default c2s stanza limit: no client can send more through them. */
export const DEFAULT_MAX_STANZA_BYTES = 256 * 1024;
/** Four maximal stanzas; a Pi has the memory, a flood does not get more. */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
/** The longest `<text/>` an outgoing error carries (it may quote the request). */
const MAX_ERROR_TEXT = 256;

export type IqHandler = (stanza: Element, child: Element) => Element | boolean | Promise<Element | boolean>;

export interface Transport {
  /** Full JID once online (the bound resource), else undefined. */
  readonly jid: string | undefined;
  readonly bareJid: string;
  readonly online: boolean;
  /** Why the last connection attempt failed (for a CLI that gives up waiting), until the next is online. */
  readonly lastFailure?: string | undefined;
  /** Inbound flow control: paused while more than `maxQueuedBytes` wait to be written. */
  readonly flow?: { readingPaused: boolean; queuedBytes: number };
  /** How the current session is carried (while online), for `xiot check --online` and logs. */
  readonly connection?: ConnectionInfo | undefined;
  /**
   * The server offered subscription pre-approval (RFC 6121 §3.4, `urn:xmpp:features:pre-approval`) on this
   * session's stream. Without it a client MUST NOT pre-approve: ejabberd 23.01 does not offer it and forwards an
   * unasked `subscribed` as it is, which approves a request still on its way before our roster records it.
   */
  readonly preApproval?: boolean;
  /**
   * Resolves once the first session is online (or when stop() is called first); reconnects on its own
   * afterwards until stop(). Rejects when the first attempt is refused as `not-authorized`.
   */
  start(): Promise<void>;
  stop(): Promise<void>;
  send(stanza: Element): Promise<void>;
  /**
   * Sends an IQ and resolves with the result stanza; rejects with XmppStanzaError (the error reply's
   * condition), XmppTimeoutError (no answer within `timeoutMs`, default `TransportOptions.timeoutMs`) or
   * XmppOfflineError (the connection went offline or stop() was called first, or it was not online).
   * `timeoutMs` 0: no timer; the request waits as long as the stream is up (liveness is the keepalive's job).
   */
  request(iq: Element, timeoutMs?: number): Promise<Element>;
  /**
   * Stanzas sent from now until the event loop's next turn leave in one socket write (a readout's `accepted`
   * and its `fields`: one syscall and one TCP segment instead of two). Optional: a no-op where unsupported.
   */
  coalesce?(): void;
  /** Handler returns a payload element (result), true (empty result), or a `stanzaError()` element. */
  handleIq(type: 'get' | 'set', ns: string, name: string, handler: IqHandler): void;
  on(event: 'online', listener: (jid: string) => void): void;
  on(event: 'offline', listener: () => void): void;
  on(event: 'stanza', listener: (stanza: Element) => void): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors EventEmitter
  off(event: string, listener: (...args: any[]) => void): void;
}

export interface ConnectionInfo {
  /** `starttls` is `xmpp://` upgraded; `tcp` is `xmpp://` without TLS. */
  transport: 'tcp' | 'starttls' | 'direct-tls' | 'websocket' | 'websocket-tls' | 'exi';
  encrypted: boolean;
  /** `TLSv1.3`, `TLSv1.2`, … when encrypted. */
  tlsVersion?: string;
  /** The service URI connected to. */
  service: string;
}

/** An IQ error answer, with its defined condition (`forbidden`, `item-not-found`, …). */
export class XmppStanzaError extends IotError {
  readonly condition: string;
  readonly stanza: Element;
  constructor(condition: string, text: string | undefined, stanza: Element) {
    super('IOT_ERR_XMPP', text ? `${condition}: ${text}` : condition);
    this.condition = condition;
    this.stanza = stanza;
  }
}

/** Why a connection attempt was given up; `kind` picks the backoff. */
class ConnectFailure extends IotError {
  constructor(
    readonly kind: 'network' | 'refused' | 'conflict',
    message: string,
  ) {
    super('IOT_ERR_XMPP', message);
  }
}

interface PendingIq {
  resolve(reply: Element): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** setTimeout's ceiling (about 24.8 days); longer timeouts are treated as "no timer". */
const MAX_TIMER_MS = 2 ** 31 - 1;
const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls';
const STREAM_NS = 'http://etherx.jabber.org/streams';
const PRE_APPROVAL_NS = 'urn:xmpp:features:pre-approval';
const SASL_NS = ['urn:ietf:params:xml:ns:xmpp-sasl', 'urn:xmpp:sasl:2'];

/** Loopback by name: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8, ::1. Judged on the name as written. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7));
  return net.isIPv6(h) && /^(0{0,4}:){2,7}0{0,3}1$|^::1$/.test(h);
}

function serviceHost(service: string): string {
  try {
    return new URL(service).hostname;
  } catch {
    return '';
  }
}

/** `optional` for a server on loopback, `required` for anything else. */
export function defaultTlsPolicy(service: string): TlsPolicy {
  return isLoopbackHost(serviceHost(service)) ? 'optional' : 'required';
}

function errorReply(stanza: Element): XmppStanzaError {
  const error = stanza.getChild('error');
  const condition =
    error?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== 'text')?.name ??
    'undefined-condition';
  const text = error?.getChildText('text', NS.stanzas) ?? undefined;
  return new XmppStanzaError(condition, text || undefined, stanza);
}

/**
 * An error stanza as sent: its `<error/>` whole (conditions, application-specific elements such as XEP-0325's
 * `paramError`), with every text and attribute value cut to MAX_ERROR_TEXT, and none of the request's payload
 * (issue 13: a 1 MB request must not come back as 1 MB; RFC 6120 §8.3.1 makes the payload optional). Not even
 * its empty shell: `<search xmlns='urn:xmpp:iot:discovery'/>` without its operators is invalid against the
 * XEP's schema (issue 15, test/integration/registry-schema.test.ts), and an answer must be valid as a whole.
 */
export function boundedErrorReply(stanza: Element): Element {
  if (stanza.attrs.type !== 'error') return stanza;
  const out = new Element(stanza.name, { ...stanza.attrs });
  for (const child of stanza.getChildElements())
    if (child.name === 'error') out.append(boundedCopy(child, 0));
  return out;
}

const cut = (s: string) => (s.length > MAX_ERROR_TEXT ? `${s.slice(0, MAX_ERROR_TEXT)}…` : s);

function boundedCopy(el: Element, depth: number): Element {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(el.attrs)) if (v !== undefined) attrs[k] = cut(String(v));
  const copy = new Element(el.name, attrs);
  let children = 0;
  for (const c of el.children) {
    if (++children > 32) break;
    if (typeof c === 'string') copy.t(cut(c));
    else if (depth < 4) copy.append(boundedCopy(c as Element, depth + 1));
  }
  return copy;
}

/** A stanza's XML for logs, with SASL exchanges blanked. */
export function redactStanza(el: Element): string {
  if (SASL_NS.includes(el.attrs.xmlns as string))
    return `<${el.name} xmlns='${el.attrs.xmlns}'>[redacted]</${el.name}>`;
  return el.toString();
}

/**
 * The node stream under xmpp.js's socket wrappers (net.Socket, @xmpp/tls's Socket, ExiSocket, the WebSocket's
 * TCP/TLS socket), if any.
 */
interface RawStream {
  writableLength: number;
  pause(): void;
  resume(): void;
  destroy(): void;
  once(event: 'drain', listener: () => void): void;
  removeListener(event: 'drain', listener: () => void): void;
  cork(): void;
  uncork(): void;
}
function rawStream(socket: unknown): RawStream | undefined {
  if (!socket) return undefined;
  if (socket instanceof net.Socket) return socket;
  const { socket: inner, sock, stream } = socket as { socket?: unknown; sock?: unknown; stream?: unknown };
  for (const candidate of [inner, sock, stream]) if (candidate instanceof net.Socket) return candidate;
  return undefined;
}

type XmppClient = ReturnType<typeof client> & {
  socket: unknown;
  parser: { write(text: string): void } | null;
  status: string;
  _onData(data: Buffer | string): void;
  _onElement(el: Element): void;
  socketParameters(service: string): Record<string, unknown> | undefined;
};

export function createTransport(options: TransportOptions, log: Logger): Transport {
  const events = new EventEmitter();
  // Serialising every stanza for a trace line nobody writes showed in the agent's readout profile (issue 12).
  const isLevelEnabled = (log as Partial<{ isLevelEnabled(level: string): boolean }>).isLevelEnabled;
  const tracing = () => isLevelEnabled?.call(log, 'trace') ?? true;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { minMs, maxMs } = options.reconnect ?? DEFAULT_RECONNECT;
  const tlsPolicy = options.tls ?? defaultTlsPolicy(options.service);
  const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  const maxStanzaBytes = options.maxStanzaBytes ?? DEFAULT_MAX_STANZA_BYTES;
  const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  const xmpp = client({
    service: options.service,
    domain: options.domain,
    username: options.username,
    password: options.password,
    ...(options.resource ? { resource: options.resource } : {}),
    timeout: timeoutMs,
  }) as XmppClient;
  // @xmpp/middleware's outgoing chain runs after every write (a context per stanza, its `to` and
  // `from` parsed as JIDs) for its one filter, XEP-0198's, which acts only once stream management is enabled,
  // and we never enable it (onFeatures takes it off the features; see header). ~10 % of the agent's CPU per
  // readout in a perf profile (issue 12). Its listener is the only 'send' listener of a new client: removed.
  for (const listener of xmpp.listeners('send') as Array<(...args: unknown[]) => void>)
    xmpp.off('send', listener);

  // XEP-0322 binary binding (issue 7): `exi://HUB:PORT` goes through the hub's EXI gateway. WebSocket
  // (issue 18): `ws`-based, see websocket.ts. Each is loaded on first start only when used: agents without
  // them do not pay for their memory.
  let transportReady: Promise<void> | undefined;
  const ensureTransport = () =>
    (transportReady ??= options.service.startsWith('exi://')
      ? import('./exi-connection.js').then(({ setupExiTransport }) => setupExiTransport(xmpp))
      : /^wss?:\/\//.test(options.service)
        ? import('./websocket.js').then(
            ({ setupWebSocketTransport }) =>
              setupWebSocketTransport(xmpp, {
                maxPayload: 4 * maxStanzaBytes,
                handshakeTimeoutMs: Math.max(timeoutMs, 10_000),
              }),
            (err: unknown) => {
              throw new IotError(
                'IOT_ERR_CONFIG',
                `${options.service}: WebSocket needs the "ws" package, which did not load ` +
                  `(${errorMessage(err)}): reinstall with npm ci, or use xmpp:// or xmpps://`,
              );
            },
          )
        : Promise.resolve());
  // We schedule reconnects ourselves (backoff); the built-in one would retry every second forever.
  xmpp.reconnect.stop();
  let stopping = false;
  let online = false;
  let corked = false; // coalesce(): the socket is corked until the next turn
  let onlineSince = 0;
  let currentJid: string | undefined;
  let lastFailure: string | undefined;

  /**
   * Our listeners run inside the socket's 'data' callback: a throw (or a rejected promise from an async
   * listener) there would end the process. Each listener is isolated and its failure logged.
   */
  const emit = (event: string, ...args: unknown[]) => {
    for (const listener of events.listeners(event) as Array<(...a: unknown[]) => unknown>) {
      const onError = (err: unknown) => log.error({ err: errorMessage(err), event }, 'listener failed');
      try {
        const r = listener(...args);
        if (r && typeof (r as Promise<unknown>).then === 'function')
          (r as Promise<unknown>).then(undefined, onError);
      } catch (err) {
        onError(err);
      }
    }
  };

  const tlsSocket = (): tls.TLSSocket | undefined => {
    const s = xmpp.socket as { socket?: unknown; stream?: unknown } | null;
    if (!s) return undefined;
    for (const candidate of [s, s.socket, s.stream]) if (candidate instanceof tls.TLSSocket) return candidate;
    return undefined;
  };
  const isEncrypted = () => {
    const s = xmpp.socket as { url?: unknown } | null;
    if (!s) return false;
    return tlsSocket() !== undefined || (typeof s.url === 'string' && s.url.startsWith('wss:'));
  };
  const scheme = options.service.slice(0, Math.max(0, options.service.indexOf(':')));
  const connectionInfo = (): ConnectionInfo => {
    const secured = tlsSocket();
    const tlsVersion = secured?.getProtocol() ?? undefined;
    const transport: ConnectionInfo['transport'] =
      scheme === 'ws' || scheme === 'wss'
        ? secured
          ? 'websocket-tls'
          : 'websocket'
        : scheme === 'xmpps'
          ? 'direct-tls'
          : scheme === 'exi'
            ? 'exi'
            : secured
              ? 'starttls'
              : 'tcp';
    return {
      transport,
      encrypted: isEncrypted(),
      ...(tlsVersion ? { tlsVersion } : {}),
      service: options.service,
    };
  };
  /** The name a certificate must carry: the XMPP domain (RFC 6120 §13.7.2), for wss:// the URL's host. */
  const certificateName = () =>
    scheme === 'ws' || scheme === 'wss' || net.isIP(options.domain)
      ? serviceHost(options.service)
      : options.domain;
  const destroySocket = () => {
    const s = xmpp.socket as { destroy?(): void; socket?: { destroy?(): void; close?(): void } } | null;
    if (!s) return;
    if (typeof s.destroy === 'function') s.destroy();
    else if (s.socket?.destroy) s.socket.destroy();
    else s.socket?.close?.();
  };

  // --- the connection attempt in progress: its failure, as seen from wherever it shows up
  let attemptFail: ((err: unknown) => void) | undefined;
  let offeredMechanisms: string[] = [];
  /** From the stream's latest features: those after authentication are the session's. */
  let preApproval = false;

  // xmpps://: verify the certificate against the XMPP domain, not the host we connect to (RFC 6120 §13.7.2).
  const baseSocketParameters = xmpp.socketParameters.bind(xmpp) as (
    s: string,
  ) => Record<string, unknown> | undefined;
  xmpp.socketParameters = (service: string) => {
    const params = baseSocketParameters(service);
    if (params && service.startsWith('xmpps:') && !net.isIP(options.domain))
      params.servername = options.domain;
    return params;
  };

  const onInbound = (el: Element) => {
    lastInbound = Date.now();
    try {
      if (el.is('features', STREAM_NS)) onFeatures(el);
      // An error IQ without <error/> (slixmpp's legacy XEP-0323 `<rejected/>` replies) would make @xmpp/iq's
      // caller throw inside its handler: give it an RFC 6120 error to carry.
      if (el.is('iq') && el.attrs.type === 'error' && !el.getChild('error')) {
        const legacy = el.getChildElements().find((c) => c.name === 'rejected');
        const text =
          legacy?.getChildText('error') ?? legacy?.text() ?? 'error reply without an error element';
        el.append(
          xml(
            'error',
            { type: 'cancel' },
            xml('undefined-condition', { xmlns: NS.stanzas }),
            xml('text', { xmlns: NS.stanzas }, text),
          ),
        );
      }
      if (tracing()) log.trace({ dir: 'in' }, redactStanza(el));
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'unreadable element from the server');
    }
  };
  xmpp.prependListener('element', onInbound);

  /** Runs before @xmpp/client's feature handlers: the TLS policy and XEP-0198 (see header). */
  const onFeatures = (el: Element) => {
    el.children = el.children.filter(
      (c) =>
        typeof c === 'string' ||
        ((c as Element).attrs.xmlns !== NS.streamManagement &&
          !(tlsPolicy === 'off' && (c as Element).is('starttls', TLS_NS))),
    );
    preApproval = el.getChild('sub', PRE_APPROVAL_NS) !== undefined;
    offeredMechanisms =
      (el.getChild('mechanisms', SASL_NS[0]) ?? el.getChild('authentication', SASL_NS[1]))
        ?.getChildElements()
        .map((m) => m.getText()) ?? [];
    if (tlsPolicy !== 'required' || isEncrypted()) return;
    const socket = xmpp.socket;
    const canUpgrade = socket instanceof net.Socket && !(socket instanceof tls.TLSSocket);
    if (el.getChild('starttls', TLS_NS) && canUpgrade) return; // @xmpp/starttls upgrades before SASL
    // Nothing may happen on this stream: no SASL, no binding.
    el.children = [];
    const host = serviceHost(options.service);
    attemptFail?.(
      new ConnectFailure(
        'refused',
        scheme === 'ws'
          ? `${host}: ws:// is not encrypted and xmpp.tls is "required": not logging in over an unencrypted ` +
              'stream (use wss://, or set xmpp.tls: optional)'
          : scheme === 'exi'
            ? `${host}: exi:// is not encrypted and xmpp.tls is "required": not logging in over an ` +
              'unencrypted stream (reach the EXI gateway on loopback, or set xmpp.tls: optional)'
            : `${host} offers no TLS (STARTTLS) and xmpp.tls is "required": not logging in ` +
              'over an unencrypted stream (enable TLS on the server, use xmpps:// or wss://, or set xmpp.tls: optional)',
      ),
    );
  };

  // --- inbound bytes: stanza size limit, liveness, backpressure
  const framed = /^(xmpps?|exi):/.test(options.service);
  const framer = createStanzaFramer(maxStanzaBytes);
  let lastInbound = Date.now();
  let readingPaused = false;
  let pausedStream: RawStream | undefined;
  const resumeReading = () => {
    if (!readingPaused) return;
    readingPaused = false;
    pausedStream?.resume();
    pausedStream = undefined;
    log.info({}, 'outgoing queue drained; reading again');
  };
  const checkQueue = () => {
    const raw = rawStream(xmpp.socket);
    if (!raw || readingPaused || raw.writableLength <= maxQueuedBytes) return;
    readingPaused = true;
    pausedStream = raw;
    raw.pause();
    raw.once('drain', resumeReading);
    log.warn(
      { queuedBytes: raw.writableLength, maxQueuedBytes },
      'outgoing queue full; not reading until it drains',
    );
  };
  xmpp.on('status', (status: string) => {
    if (status === 'opening') framer.reset();
    if (status === 'disconnect' && readingPaused) {
      readingPaused = false;
      pausedStream = undefined;
    }
  });
  xmpp._onData = (data: Buffer | string) => {
    try {
      if (!framed) {
        lastInbound = Date.now();
        if (Buffer.byteLength(data) > maxStanzaBytes)
          onOversize(String(data).slice(0, 4096), Buffer.byteLength(data));
        else xmpp.parser?.write(String(data));
        return;
      }
      for (const piece of framer.push(data)) {
        if (piece.kind === 'xml') xmpp.parser?.write(piece.text);
        else onOversize(piece.head, piece.bytes);
      }
      // A stanza still arriving is a sign of life (a big one on a slow link); bytes that complete no element
      // are not (a parser stuck on garbage would otherwise keep a dead stream "alive").
      if (framer.inStanza) lastInbound = Date.now();
    } catch (err) {
      // The parser threw (it may after a parse error): this stream cannot continue.
      log.warn({ err: errorMessage(err) }, 'unreadable data from the server; reconnecting');
      destroySocket();
    } finally {
      checkQueue();
    }
  };
  const onOversize = (headText: string, bytes: number) => {
    const head = readStanzaHead(headText);
    const { type, id, from } = head.attrs ?? {};
    const fields = { from, name: head.name, bytes, maxStanzaBytes };
    lastInbound = Date.now();
    if (head.name === 'iq' && id && (type === 'get' || type === 'set')) {
      log.warn(fields, 'refused an IQ larger than maxStanzaBytes (policy-violation)');
      void transport.send(
        xml(
          'iq',
          { type: 'error', id, ...(from ? { to: from } : {}) },
          ...(head.child ? [xml(head.child.name, head.child.xmlns ? { xmlns: head.child.xmlns } : {})] : []),
          xml(
            'error',
            { type: 'modify' },
            xml('policy-violation', { xmlns: NS.stanzas }),
            xml(
              'text',
              { xmlns: NS.stanzas, 'xml:lang': 'en' },
              `stanza larger than ${maxStanzaBytes} bytes`,
            ),
          ),
        ),
      );
      return;
    }
    const waiting = head.name === 'iq' && id ? settle(id) : undefined;
    if (waiting) {
      log.warn(fields, 'an answer larger than maxStanzaBytes was dropped');
      waiting.reject(
        new XmppStanzaError(
          'policy-violation',
          `answer larger than ${maxStanzaBytes} bytes`,
          xml('iq', head.attrs),
        ),
      );
      return;
    }
    log.warn(fields, 'dropped a stanza larger than maxStanzaBytes');
  };

  // --- outbound: error replies bounded, queue watched
  const rawSend = xmpp.send.bind(xmpp) as (el: Element) => Promise<void>;
  xmpp.send = ((el: Element) => {
    const sent = rawSend(el.attrs.type === 'error' ? boundedErrorReply(el) : el);
    checkQueue();
    return sent;
  }) as typeof xmpp.send;

  xmpp.on('send', (el: Element) => {
    if (tracing()) log.trace({ dir: 'out' }, redactStanza(el));
  });
  xmpp.on('connect', () => {
    const socket = xmpp.socket as { setNoDelay?(v: boolean): void } | null;
    socket?.setNoDelay?.(true);
  });
  let lastStreamError: string | undefined;
  xmpp.on('error', (err: Error & { condition?: string; name?: string }) => {
    if (err.name === 'StreamError' && err.condition) lastStreamError = err.condition;
    if (attemptFail) attemptFail(err);
    else log.debug({ err: errorMessage(err) }, 'xmpp error');
  });
  xmpp.on('online', (address: { toString(): string }) => {
    online = true;
    onlineSince = Date.now();
    lastFailure = undefined;
    lastStreamError = undefined;
    currentJid = address.toString();
    const info = connectionInfo();
    log.info(
      { jid: currentJid, transport: info.transport, ...(info.tlsVersion ? { tls: info.tlsVersion } : {}) },
      'online',
    );
    startKeepalive();
    emit('online', currentJid);
  });
  xmpp.on('stanza', (stanza: Element) => emit('stanza', stanza));

  // --- IQ caller (see header): every promise has its handlers from the start.
  const pending = new Map<string, PendingIq>();
  const settle = (id: string): PendingIq | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    clearTimeout(p.timer);
    return p;
  };
  const rejectAllPending = () => {
    for (const id of [...pending.keys()]) settle(id)?.reject(new XmppOfflineError(`iq ${id}`));
  };

  // --- IQs of ours, routed here, before @xmpp/client's middleware: requests to our handlers (handleIq) and
  // answers to our requests (`request`). The middleware builds a context per stanza (two JIDs parsed, a
  // koa-compose chain, the XEP-0198 counter we never enable): about a third of the agent's CPU per readout in a
  // perf profile (issue 12), and a tenth per publish acknowledgement, for routing a table lookup does. What it
  // would do for such an IQ is done here: for a request the same reply (to, from, id, type; the handler's
  // payload, an empty result for `true`, its `<error/>`, service-unavailable for nothing, internal-server-error for
  // a throw); for an answer, our waiting request settled; for both, our 'element' bookkeeping and 'stanza'
  // listeners. IQs without a handler or a request of ours, malformed ones (not exactly one child) and everything
  // else still go through @xmpp/client (its own requests: resource binding). Messages and presences once online
  // skip it too: none of its middleware (IQ routing, stream features, XEP-0198) acts on them, and a hub receives
  // a message per reading of its fleet (ejabberd also sends the agent each of its own PEP events).
  const iqHandlers = new Map<string, IqHandler>();
  const iqKey = (type: string, ns: string, name: string) => `${type} ${ns} ${name}`;
  const baseOnElement = xmpp._onElement.bind(xmpp);
  xmpp._onElement = (el: Element) => {
    if (online && (el.name === 'message' || el.name === 'presence')) {
      onInbound(el);
      emit('stanza', el);
      return;
    }
    const type = el.attrs.type as string | undefined;
    if (el.name === 'iq' && (type === 'result' || type === 'error') && pending.has(String(el.attrs.id))) {
      onInbound(el); // first: it gives a legacy error reply the <error/> that errorReply reads
      emit('stanza', el);
      const p = settle(String(el.attrs.id));
      if (type === 'result') p?.resolve(el);
      else p?.reject(errorReply(el));
      return;
    }
    if (el.name === 'iq' && (type === 'get' || type === 'set') && iqHandlers.size > 0) {
      const children = el.getChildElements();
      const child = children[0];
      const handler =
        children.length === 1 && child
          ? iqHandlers.get(iqKey(type, child.getNS() ?? '', child.getName()))
          : undefined;
      if (handler && child) {
        onInbound(el);
        emit('stanza', el);
        void answerIq(el, child, handler);
        return;
      }
    }
    baseOnElement(el);
  };
  const answerIq = async (stanza: Element, child: Element, handler: IqHandler) => {
    let answer: Element | boolean;
    try {
      answer = await handler(stanza, child);
    } catch (err) {
      log.warn({ err: errorMessage(err), from: stanza.attrs.from, ns: child.getNS() }, 'IQ handler failed');
      answer = xml('error', { type: 'cancel' }, xml('internal-server-error', { xmlns: NS.stanzas }));
    }
    if (!answer) answer = xml('error', { type: 'cancel' }, xml('service-unavailable', { xmlns: NS.stanzas }));
    const isError = answer !== true && answer.is('error');
    // One object shape for every reply (an absent `to` or `from` is undefined, which ltx does not write).
    const reply = new Element('iq', {
      to: stanza.attrs.from,
      from: stanza.attrs.to,
      id: stanza.attrs.id,
      type: isError ? 'error' : 'result',
    });
    if (answer !== true) reply.cnode(answer);
    await (xmpp.send(reply) as Promise<void>).catch((err: unknown) =>
      log.debug({ err: errorMessage(err) }, 'IQ reply not sent'),
    );
  };

  // --- keepalive (XEP-0199): liveness is "bytes arrive", not one ping's round trip
  let keepaliveTimer: NodeJS.Timeout | undefined;
  let pingedAt = 0;
  let lastProgress = Date.now();
  xmpp.on('send', () => {
    if (!readingPaused) return;
    lastProgress = Date.now(); // while we do not read, our writes draining is the sign of life
    // 'drain' comes only after a write was refused; a small maxQueuedBytes may never see one.
    if ((rawStream(xmpp.socket)?.writableLength ?? 0) <= maxQueuedBytes / 2) resumeReading();
  });
  const startKeepalive = () => {
    clearInterval(keepaliveTimer);
    lastInbound = Date.now();
    pingedAt = 0;
    const tick = Math.max(100, Math.min(keepalive.intervalMs, keepalive.timeoutMs) / 4);
    keepaliveTimer = setInterval(() => {
      if (!online) return;
      const now = Date.now();
      const heard = readingPaused ? Math.max(lastInbound, lastProgress) : lastInbound;
      const silent = now - heard;
      if (silent >= keepalive.intervalMs + keepalive.timeoutMs) {
        log.warn({ silentMs: silent }, 'no data from the server: connection considered dead; reconnecting');
        destroySocket();
        return;
      }
      if (silent >= keepalive.intervalMs && pingedAt <= heard) {
        pingedAt = now;
        transport
          .request(xml('iq', { type: 'get', to: options.domain }, xml('ping', { xmlns: NS.ping })), 0)
          .catch(() => undefined); // any answer, even an error, is a sign of life; offline is handled elsewhere
      }
    }, tick);
    keepaliveTimer.unref();
  };

  // --- the connection loop
  let looping: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const attempts = { network: 0, refused: 0, conflict: 0 };

  const classify = (err: unknown): ConnectFailure => {
    if (err instanceof ConnectFailure) return err;
    const e = err as { name?: string; condition?: string; text?: string; code?: string; message?: string };
    const reason = e.text ? `${e.condition}: ${e.text}` : (e.condition ?? errorMessage(err));
    if (e.condition === 'conflict') {
      return new ConnectFailure(
        'conflict',
        `another connection uses resource ${options.resource ?? currentJid?.split('/')[1] ?? '(ours)'}: conflict`,
      );
    }
    if (e.name === 'SASLError')
      return new ConnectFailure('refused', `authentication refused for ${bareJid} (${reason})`);
    if (/^SASL: (No compatible mechanism|Mechanism .* not found)/.test(e.message ?? '')) {
      const offered = offeredMechanisms.join(', ') || 'none';
      const plainOnly = !isEncrypted() && offeredMechanisms.every((m) => m === 'PLAIN');
      return new ConnectFailure(
        'refused',
        `no usable SASL mechanism (offered: ${offered})` +
          (plainOnly
            ? '; PLAIN is never sent over an unencrypted stream: enable TLS or SCRAM on the server'
            : ''),
      );
    }
    if (e.code === 'WEBSOCKET_SETUP') return new ConnectFailure('refused', e.message ?? 'WebSocket refused');
    if (e.code && /CERT|SIGNATURE|ALTNAME|ERR_TLS|SSL|ISSUER/.test(e.code)) {
      return new ConnectFailure(
        'refused',
        `TLS handshake with ${serviceHost(options.service)} failed (${e.code}: ${e.message}): ${tlsHint(e.code)}`,
      );
    }
    if (
      e.name === 'StreamError' &&
      ['not-authorized', 'policy-violation', 'host-unknown', 'unsupported-version'].includes(
        e.condition ?? '',
      )
    ) {
      return new ConnectFailure('refused', `the server closed the stream: ${reason}`);
    }
    if (e.name === 'StanzaError' && e.condition)
      return new ConnectFailure('refused', `resource binding refused (${reason})`);
    return new ConnectFailure('network', reason || 'connection failed');
  };

  const tlsHint = (code: string): string => {
    const name = certificateName();
    if (/ALTNAME/.test(code)) return `the server's certificate must name ${name}`;
    if (/EXPIRED|NOT_YET_VALID/.test(code))
      return `the certificate for ${name} is outside its validity period (or this machine's clock is wrong)`;
    if (/SELF_SIGNED|UNABLE_TO|ISSUER|UNTRUSTED|SIGNATURE/.test(code))
      return (
        `the certificate for ${name} is not signed by a CA this machine trusts ` +
        '(for a private CA, start with NODE_EXTRA_CA_CERTS=/path/to/ca.pem)'
      );
    if (/WRONG_VERSION|PACKET_LENGTH|HTTP_REQUEST/.test(code))
      return (
        `${serviceHost(options.service)} does not speak TLS on that port (xmpps:// needs the direct TLS port, ` +
        'usually 5223; wss:// the HTTPS port)'
      );
    return `check the server's TLS set-up for ${name}`;
  };

  /** One attempt: socket, stream, features (TLS, SASL, bind) up to 'online'. Rejects with why it failed. */
  const attemptOnce = async (): Promise<void> => {
    let negotiationTimer: NodeJS.Timeout | undefined;
    const outcome = new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        attemptFail = undefined;
        clearTimeout(negotiationTimer);
        xmpp.off('online', onOnline);
        xmpp.off('disconnect', onDisconnect);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onOnline = () => done();
      const onDisconnect = () =>
        done(
          lastStreamError
            ? { name: 'StreamError', condition: lastStreamError }
            : new Error('connection closed'),
        );
      attemptFail = (err) => done(err ?? new Error('connection failed'));
      xmpp.on('online', onOnline);
      xmpp.on('disconnect', onDisconnect);
      negotiationTimer = setTimeout(
        () => done(new Error(`no session within ${Math.max(timeoutMs, 10_000)} ms`)),
        Math.max(timeoutMs, 10_000),
      );
    });
    outcome.catch(() => undefined);
    lastStreamError = undefined;
    offeredMechanisms = [];
    preApproval = false;
    // Socket and stream header; a failure later in negotiation (or a close) settles `outcome` first, so
    // these steps are not awaited on their own (open() would wait for its own timeout).
    (async () => {
      await xmpp.connect(options.service);
      await xmpp.open({ domain: options.domain, lang: undefined } as never);
    })().catch((err: unknown) => attemptFail?.(err));
    await outcome;
  };

  /** Closes whatever a failed attempt left and waits until the connection is 'disconnect'. */
  const teardown = async () => {
    if (!xmpp.socket) return;
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      xmpp.once('disconnect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    destroySocket();
    await closed;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      reconnectTimer = setTimeout(resolve, ms);
    }).finally(() => {
      wake = undefined;
      clearTimeout(reconnectTimer);
    });

  const delayFor = (failure: ConnectFailure): number => {
    const n = attempts[failure.kind]++;
    const policy =
      failure.kind === 'conflict'
        ? CONFLICT_BACKOFF
        : failure.kind === 'refused'
          ? REFUSED_BACKOFF
          : undefined;
    if (!policy) return backoffDelay(n, minMs, maxMs);
    return backoffDelay(n, minMs * policy.minFactor, Math.max(maxMs, policy.maxMs));
  };

  const report = (failure: ConnectFailure, inMs: number) => {
    lastFailure = failure.message;
    const fields = { reason: failure.message, inMs, attempt: attempts[failure.kind] };
    // A refusal is logged every time (issue 12); a network outage once, then quietly while it lasts.
    if (failure.kind !== 'network' || attempts.network === 1) log.warn(fields, 'cannot connect; retrying');
    else log.debug(fields, 'cannot connect; retrying');
  };

  /** Attempts until online or stopped; `after` is the failure that ended the previous session. */
  const connectLoop = async (firstStart: boolean, after?: ConnectFailure): Promise<void> => {
    if (after) {
      const delay = delayFor(after);
      report(after, delay);
      await sleep(delay);
    }
    for (let n = 0; !stopping; n++) {
      try {
        await attemptOnce();
        attempts.network = 0;
        attempts.refused = 0;
        return;
      } catch (err) {
        const failure = classify(err);
        await teardown();
        if (stopping) return;
        if (firstStart && n === 0 && /not-authorized/.test(failure.message)) {
          throw new IotError(
            'IOT_ERR_XMPP',
            `authentication failed for ${bareJid}: check xmpp.username and xmpp.password`,
          );
        }
        const delay = delayFor(failure);
        report(failure, delay);
        await sleep(delay);
      }
    }
  };
  const runLoop = (firstStart: boolean, after?: ConnectFailure) =>
    (looping ??= connectLoop(firstStart, after).finally(() => {
      looping = undefined;
    }));

  xmpp.on('disconnect', ({ clean }: { clean: boolean }) => {
    if (!online) return; // a failing attempt: its own loop iteration handles it
    online = false;
    clearInterval(keepaliveTimer);
    const lasted = Date.now() - onlineSince;
    if (lasted >= CONFLICT_MEMORY_MS) attempts.conflict = 0;
    const cause = lastStreamError;
    if (stopping) log.info({}, 'disconnected');
    else log.warn({ clean, ...(cause ? { streamError: cause } : {}) }, 'disconnected from the server');
    rejectAllPending();
    emit('offline');
    if (stopping) return;
    const failure = cause
      ? classify({ name: 'StreamError', condition: cause })
      : new ConnectFailure('network', 'connection lost');
    runLoop(false, failure).catch((err: unknown) =>
      log.error({ err: errorMessage(err) }, 'reconnect failed'),
    );
  });

  const bareJid = parseJid(options.username, options.domain).toString();
  const transport: Transport = {
    get jid() {
      return online ? currentJid : undefined;
    },
    bareJid,
    get online() {
      return online;
    },
    get lastFailure() {
      return lastFailure;
    },
    get connection() {
      return online ? connectionInfo() : undefined;
    },
    get preApproval() {
      return online && preApproval;
    },
    get flow() {
      return { readingPaused, queuedBytes: rawStream(xmpp.socket)?.writableLength ?? 0 };
    },
    coalesce() {
      if (corked || !online) return;
      const raw = rawStream(xmpp.socket);
      if (!raw) return;
      corked = true;
      raw.cork();
      // setImmediate, not nextTick: the callbacks already queued for this turn (a readout's run) write first.
      setImmediate(() => {
        corked = false;
        raw.uncork();
      });
    },
    async start() {
      await ensureTransport();
      stopping = false;
      if (online) return;
      try {
        await runLoop(true);
      } catch (err) {
        await transport.stop();
        throw err;
      }
    },
    async stop() {
      stopping = true;
      wake?.();
      clearTimeout(reconnectTimer);
      clearInterval(keepaliveTimer);
      attemptFail?.(new Error('stopped'));
      if (xmpp.status === 'online') {
        await xmpp.send(xml('presence', { type: 'unavailable' })).catch(() => undefined);
      }
      await Promise.race([xmpp.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      if (xmpp.socket) await teardown();
      online = false;
      rejectAllPending();
      await looping?.catch(() => undefined);
    },
    send(stanza) {
      const sent = xmpp.send(stanza) as Promise<void>;
      // A caller that ignores the promise must not turn a failed write into an unhandled rejection.
      sent.catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'send failed'));
      return sent;
    },
    request(iq, ms = timeoutMs) {
      const what = `iq to ${iq.attrs.to ?? 'server'}`;
      const answer = new Promise<Element>((resolve, reject) => {
        if (!online || xmpp.status !== 'online') {
          reject(new XmppOfflineError(what));
          return;
        }
        const id = (iq.attrs.id ??= `iot-${randomUUID()}`) as string;
        const timer =
          ms > 0 && ms <= MAX_TIMER_MS
            ? setTimeout(() => settle(id)?.reject(new XmppTimeoutError(what, ms)), ms)
            : undefined;
        pending.set(id, { resolve, reject, timer });
        (xmpp.send(iq) as Promise<void>).catch(() => settle(id)?.reject(new XmppOfflineError(what)));
      });
      // Same as send(): a rejection nobody handles is not fatal.
      answer.catch(() => undefined);
      return answer;
    },
    handleIq(type, ns, name, handler) {
      iqHandlers.set(iqKey(type, ns, name), handler); // answered before the middleware (see above)
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors EventEmitter
    on: (event: string, listener: (...args: any[]) => void) => {
      events.on(event, listener);
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors EventEmitter
    off: (event: string, listener: (...args: any[]) => void) => {
      events.off(event, listener);
    },
  } as Transport;
  return transport;
}
