/**
 * The XMPP connection: @xmpp/client 0.14 plus what it lacks for an unattended device.
 * - Reconnect with exponential backoff and jitter (its own reconnect uses a fixed 1 s delay), including when
 *   the very first connection fails (server down at boot).
 * - TCP_NODELAY on the socket: without it Nagle adds ~20 ms per round trip (environment.md, latency table).
 * - XEP-0198 is not negotiated: 0.14's stream management miscounts iq results and Prosody then kills the
 *   stream (environment.md). Delivery is guaranteed by acked publishes and the store's outbox instead.
 * - Stanza tracing at log level `trace`, with SASL payloads redacted (PLAIN carries the password in base64).
 */
import { EventEmitter } from 'node:events';
import { client, jid as parseJid, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { backoffDelay } from '../core/duration.js';
import { errorMessage, IotError, XmppTimeoutError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { NS } from './ns.js';

export interface TransportOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  reconnect?: { minMs: number; maxMs: number };
  timeoutMs?: number;
  /** Largest stanza accepted from the server, in bytes (limits.stanzaSize; implemented on branch transport). */
  maxStanzaBytes?: number;
}

export type IqHandler = (stanza: Element, child: Element) => Element | boolean | Promise<Element | boolean>;

export interface Transport {
  /** Full JID once online (the bound resource), else undefined. */
  readonly jid: string | undefined;
  readonly bareJid: string;
  readonly online: boolean;
  /** Resolves once the first session is online; reconnects on its own afterwards until stop(). */
  start(): Promise<void>;
  stop(): Promise<void>;
  send(stanza: Element): Promise<void>;
  /** Sends an IQ and resolves with the result stanza; rejects with the error stanza's condition or a timeout. */
  request(iq: Element, timeoutMs?: number): Promise<Element>;
  /** Handler returns a payload element (result), true (empty result), or a `stanzaError()` element. */
  handleIq(type: 'get' | 'set', ns: string, name: string, handler: IqHandler): void;
  on(event: 'online', listener: (jid: string) => void): void;
  on(event: 'offline', listener: () => void): void;
  on(event: 'stanza', listener: (stanza: Element) => void): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors EventEmitter
  off(event: string, listener: (...args: any[]) => void): void;
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

const SASL_NS = ['urn:ietf:params:xml:ns:xmpp-sasl', 'urn:xmpp:sasl:2'];

/** A stanza's XML for logs, with SASL exchanges blanked. */
export function redactStanza(el: Element): string {
  if (SASL_NS.includes(el.attrs.xmlns as string))
    return `<${el.name} xmlns='${el.attrs.xmlns}'>[redacted]</${el.name}>`;
  return el.toString();
}

export function createTransport(options: TransportOptions, log: Logger): Transport {
  const events = new EventEmitter();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { minMs, maxMs } = options.reconnect ?? { minMs: 1000, maxMs: 60_000 };
  const xmpp = client({
    service: options.service,
    domain: options.domain,
    username: options.username,
    password: options.password,
    ...(options.resource ? { resource: options.resource } : {}),
    timeout: timeoutMs,
  });
  // XEP-0322 binary binding (issue 7): `exi://HUB:PORT` goes through the hub's EXI gateway.
  // Loaded on first start only when used: agents without EXI do not pay for the codec's memory.
  let exiReady: Promise<void> | undefined;
  const ensureExi = () =>
    (exiReady ??= options.service.startsWith('exi://')
      ? import('./exi-connection.js').then(({ setupExiTransport }) => setupExiTransport(xmpp))
      : Promise.resolve());
  // We schedule reconnects ourselves (backoff); the built-in one would retry every second forever.
  xmpp.reconnect.stop();
  let attempt = 0;
  let stopping = false;
  let online = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let currentJid: string | undefined;

  // Strip XEP-0198 from the offered features before @xmpp/stream-management sees them (see header).
  xmpp.prependListener('element', (el: Element) => {
    if (el.is('features', 'http://etherx.jabber.org/streams')) {
      el.children = el.children.filter(
        (c) => typeof c === 'string' || (c as Element).attrs.xmlns !== NS.streamManagement,
      );
    }
    // An error IQ without <error/> (slixmpp's legacy XEP-0323 `<rejected/>` replies) makes @xmpp/iq's caller
    // throw inside its handler, and the request would never settle: give it an RFC 6120 error to carry.
    if (el.is('iq') && el.attrs.type === 'error' && !el.getChild('error')) {
      const legacy = el.getChildElements().find((c) => c.name === 'rejected');
      const text = legacy?.getChildText('error') ?? legacy?.text() ?? 'error reply without an error element';
      el.append(
        xml(
          'error',
          { type: 'cancel' },
          xml('undefined-condition', { xmlns: NS.stanzas }),
          xml('text', { xmlns: NS.stanzas }, text),
        ),
      );
    }
    log.trace({ dir: 'in' }, redactStanza(el));
  });
  xmpp.on('send', (el: Element) => log.trace({ dir: 'out' }, redactStanza(el)));
  xmpp.on('connect', () => {
    const socket = (xmpp as unknown as { socket?: { setNoDelay?(v: boolean): void } }).socket;
    socket?.setNoDelay?.(true);
  });
  xmpp.on('error', (err: Error) => {
    // Connection errors are followed by 'disconnect' and handled there; log them once at debug.
    log.debug({ err: errorMessage(err) }, 'xmpp error');
  });
  xmpp.on('online', (address: { toString(): string }) => {
    attempt = 0;
    online = true;
    currentJid = address.toString();
    log.info({ jid: currentJid }, 'online');
    events.emit('online', currentJid);
  });
  xmpp.on('stanza', (stanza: Element) => events.emit('stanza', stanza));

  const scheduleReconnect = () => {
    if (stopping) return;
    clearTimeout(reconnectTimer);
    const delay = backoffDelay(attempt++, minMs, maxMs);
    log.info({ inMs: delay, attempt }, 'reconnecting');
    reconnectTimer = setTimeout(async () => {
      if (stopping || xmpp.status !== 'disconnect') return;
      try {
        await xmpp.reconnect.reconnect();
      } catch (err) {
        log.debug({ err: errorMessage(err) }, 'reconnect attempt failed');
        // @xmpp/connection emits 'disconnect' only when its status changes, so a refused connect (status is
        // already 'disconnect') emits nothing: schedule the next attempt from here.
        scheduleReconnect();
      }
    }, delay);
  };
  xmpp.on('disconnect', ({ clean }: { clean: boolean }) => {
    if (online) {
      online = false;
      if (stopping) log.info({}, 'disconnected');
      else log.warn({ clean }, 'disconnected from the server');
      events.emit('offline');
    }
    scheduleReconnect();
  });

  const bareJid = parseJid(options.username, options.domain).toString();
  return {
    get jid() {
      return online ? currentJid : undefined;
    },
    bareJid,
    get online() {
      return online;
    },
    async start() {
      await ensureExi();
      stopping = false;
      const first = new Promise<void>((resolve) => events.once('online', () => resolve()));
      try {
        await xmpp.start();
      } catch (err) {
        const e = err as { condition?: string };
        if (e.condition === 'not-authorized') {
          await xmpp.stop().catch(() => undefined);
          throw new IotError(
            'IOT_ERR_XMPP',
            `authentication failed for ${bareJid}: check xmpp.username and xmpp.password`,
          );
        }
        log.warn({ err: errorMessage(err) }, 'cannot connect yet; retrying with backoff');
        if (xmpp.status !== 'disconnect') scheduleReconnect();
      }
      await first;
    },
    async stop() {
      stopping = true;
      clearTimeout(reconnectTimer);
      if (xmpp.status === 'online') {
        await xmpp.send(xml('presence', { type: 'unavailable' })).catch(() => undefined);
      }
      await Promise.race([xmpp.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      online = false;
    },
    send: (stanza) => xmpp.send(stanza),
    async request(iq, ms = timeoutMs) {
      try {
        return await xmpp.iqCaller.request(iq, ms);
      } catch (err) {
        const e = err as { name?: string; condition?: string; text?: string; element?: Element };
        if (e.condition && e.element) {
          throw new XmppStanzaError(e.condition, e.text || undefined, e.element ?? iq);
        }
        if (e.name === 'TimeoutError') throw new XmppTimeoutError(`iq to ${iq.attrs.to ?? 'server'}`, ms);
        throw err;
      }
    },
    handleIq(type, ns, name, handler) {
      const register = type === 'get' ? xmpp.iqCallee.get : xmpp.iqCallee.set;
      register.call(xmpp.iqCallee, ns, name, (ctx: { stanza: Element; element: Element }) =>
        handler(ctx.stanza, ctx.element),
      );
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
}
