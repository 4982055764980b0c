/**
 * An XEP-0114 external component connection (jabber:component:accept), shaped like `Transport` so services
 * written for the agent's connection (disco, IQ handlers) run on it unchanged. @xmpp/component has no 0.14
 * release, hence this small one: the handshake (SHA-1 of stream id + secret), IQ routing by namespace, requests
 * with timeouts. XEP-0114 links carry neither TLS nor SASL: keep them on loopback or the LAN (iot-xeps.md §6.4).
 * Once online, a dropped link is reconnected with backoff (`reconnect`, 1 s to 30 s by default) until stop().
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { xml } from '@xmpp/client';
import { type Element, Parser } from '@xmpp/xml';
import { errorMessage, IotError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { NS } from './ns.js';
import { stanzaError } from './stanza-errors.js';
import { type IqHandler, type Transport, XmppStanzaError } from './transport.js';

const NS_ACCEPT = 'jabber:component:accept';

export interface ComponentOptions {
  /** `xmpp://host:port` of the server's component port. */
  service: string;
  /** The component's domain (`registry.example.org`). */
  domain: string;
  secret: string;
  timeoutMs?: number;
  reconnect?: { minMs: number; maxMs: number };
}

export function createComponentTransport(options: ComponentOptions, log: Logger): Transport {
  const url = new URL(options.service);
  const port = Number(url.port || 5347);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const domain = options.domain;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const events = new EventEmitter();
  const handlers = new Map<string, IqHandler>();
  const pending = new Map<
    string,
    { resolve(e: Element): void; reject(e: Error): void; timer: NodeJS.Timeout }
  >();
  let socket: Socket | undefined;
  let online = false;
  let stopping = false;
  const backoff = options.reconnect ?? { minMs: 1000, maxMs: 30_000 };
  let delay = backoff.minMs;
  let retry: NodeJS.Timeout | undefined;
  const scheduleReconnect = () => {
    if (stopping || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connectOnce().then(
        () => {
          delay = backoff.minMs;
        },
        (err: unknown) => {
          log.warn({ err: errorMessage(err), retryMs: delay }, 'component link: reconnect failed');
          delay = Math.min(backoff.maxMs, delay * 2);
          scheduleReconnect();
        },
      );
    }, delay);
  };

  const write = (el: Element) => {
    if (!socket || !online)
      return Promise.reject(new IotError('IOT_ERR_OFFLINE', 'the component is offline'));
    if (!el.attrs.from) el.attrs.from = domain;
    return new Promise<void>((resolve, reject) =>
      socket?.write(el.toString(), (err) => (err ? reject(err) : resolve())),
    );
  };

  async function onIq(stanza: Element): Promise<void> {
    const type = stanza.attrs.type as string;
    const id = stanza.attrs.id as string;
    if (type === 'result' || type === 'error') {
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      clearTimeout(p.timer);
      if (type === 'result') p.resolve(stanza);
      else {
        const error = stanza.getChild('error');
        const condition =
          error?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== 'text')?.name ??
          'undefined-condition';
        p.reject(
          new XmppStanzaError(condition, error?.getChildText('text', NS.stanzas) ?? undefined, stanza),
        );
      }
      return;
    }
    const child = stanza.getChildElements()[0];
    const reply = (t: string, ...children: Element[]) =>
      write(xml('iq', { type: t, id, to: stanza.attrs.from, from: stanza.attrs.to ?? domain }, ...children));
    const handler = child ? handlers.get(`${type}|${child.attrs.xmlns}|${child.name}`) : undefined;
    if (!child || !handler) {
      await reply('error', stanzaError('service-unavailable'));
      return;
    }
    let out: Element | boolean;
    try {
      out = await handler(stanza, child);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'an IQ handler failed');
      out = stanzaError('internal-server-error');
    }
    if (out === false) return;
    if (out === true) await reply('result');
    else if (out.name === 'error') await reply('error', out);
    else await reply('result', out);
  }

  return {
    get jid() {
      return online ? domain : undefined;
    },
    bareJid: domain,
    get online() {
      return online;
    },
    start() {
      stopping = false;
      return connectOnce();
    },
    stop() {
      stopping = true;
      clearTimeout(retry);
      retry = undefined;
      const s = socket;
      if (!s || s.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          s.destroy();
          resolve();
        }, 500);
        s.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        s.end('</stream:stream>');
      });
    },
    send: (stanza) => write(stanza),
    request(iq, ms = timeoutMs) {
      const id = (iq.attrs.id as string | undefined) ?? randomUUID();
      iq.attrs.id = id;
      return new Promise<Element>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new IotError('IOT_ERR_XMPP_TIMEOUT', `no answer from ${iq.attrs.to} within ${ms} ms`));
        }, ms);
        pending.set(id, { resolve, reject, timer });
        write(iq).catch((err: Error) => {
          clearTimeout(timer);
          pending.delete(id);
          reject(err);
        });
      });
    },
    handleIq(type, ns, name, handler) {
      handlers.set(`${type}|${ns}|${name}`, handler);
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors EventEmitter
    on(event: string, listener: (...args: any[]) => void) {
      events.on(event, listener);
    },
    off(event, listener) {
      events.off(event, listener);
    },
  } as Transport;

  function connectOnce(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s = connect(port, host);
      socket = s;
      const parser = new Parser();
      s.setNoDelay(true);
      s.on('error', (err) => {
        if (!online)
          reject(new IotError('IOT_ERR_XMPP', `component link to ${options.service}: ${err.message}`));
        else log.error({ err: err.message }, 'component link failed');
      });
      s.on('close', () => {
        const was = online;
        online = false;
        for (const [id, p] of pending) {
          clearTimeout(p.timer);
          p.reject(new IotError('IOT_ERR_OFFLINE', 'the component link closed'));
          pending.delete(id);
        }
        if (!was) {
          reject(
            new IotError('IOT_ERR_XMPP', `component link to ${options.service} closed before the handshake`),
          );
          return;
        }
        events.emit('offline');
        if (!stopping) {
          log.error({ retryMs: delay }, 'the component link closed; reconnecting');
          scheduleReconnect();
        }
      });
      parser.on('start', (el: Element) => {
        const digest = createHash('sha1').update(`${el.attrs.id}${options.secret}`).digest('hex');
        s.write(`<handshake>${digest}</handshake>`);
      });
      parser.on('element', (el: Element) => {
        if (el.name === 'handshake') {
          online = true;
          log.info({ domain }, 'component online');
          events.emit('online', domain);
          resolve();
          return;
        }
        if (el.name === 'stream:error') {
          const why = el.getChildElements()[0]?.name ?? 'unknown';
          if (!online) reject(new IotError('IOT_ERR_XMPP', `the server refused component ${domain}: ${why}`));
          else log.error({ error: why }, 'stream error');
          s.destroy();
          return;
        }
        events.emit('stanza', el);
        if (el.is('iq'))
          void onIq(el).catch((err) => log.warn({ err: errorMessage(err) }, 'could not answer an IQ'));
      });
      parser.on('error', (err: Error) => {
        log.error({ err: err.message }, 'component stream not well-formed');
        s.destroy();
      });
      s.on('data', (d) => parser.write(d.toString('utf8')));
      s.write(
        `<?xml version='1.0'?><stream:stream xmlns='${NS_ACCEPT}' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}'>`,
      );
    });
  }
}
