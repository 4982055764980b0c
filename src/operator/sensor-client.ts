/**
 * The client side of XEP-0323 and of sensor data over PEP/pubsub: what owners, the CLI and the hub use to read
 * devices and receive their readings. Tolerant of older peers (interop.md): any IQ error is a rejection
 * (slixmpp's legacy `<rejected/>` included), completion by `done='true'` or `<done/>`, naive timestamps.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { XmppTimeoutError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FieldTypeFlag } from '../model/fields.js';
import { CAPS_NODE } from '../version.js';
import { bareOf } from '../xmpp/jid.js';
import { createDisco } from '../xmpp/disco.js';
import { NS } from '../xmpp/ns.js';
import {
  HISTORY_TRUNCATED,
  NS_READOUT,
  type ParsedField,
  parseBoolean,
  parseFields,
  readoutRequestElement,
} from '../iot/sensordata.js';
import type { Transport } from '../xmpp/transport.js';

export interface Truncation {
  limit?: number;
  resume?: string;
}

export interface ReadoutResult {
  accepted: boolean;
  queued: boolean;
  started: boolean;
  fields: ParsedField[];
  failures: { nodeId: string; timestamp: string; message: string }[];
  done: boolean;
  /** Set when the device said it cut the answer (history over its limit). */
  truncated?: Truncation;
}

export interface ReadoutParams {
  types?: FieldTypeFlag[] | 'all';
  nodes?: string[];
  fields?: string[];
  from?: Date;
  to?: Date;
  when?: Date;
  timeoutMs?: number;
  /**
   * Attempts after a readout that was accepted but never completed (XEP-0323 gives no delivery guarantee;
   * slixmpp 1.8.3 drops some readouts): each retry is a new request with a new seqnr. Default 0.
   */
  retries?: number;
}

/** A reading that arrived as a pubsub/PEP notification. */
export interface Notification {
  /** Publisher (bare JID for PEP, the service for pubsub). */
  from: string;
  node: string;
  itemId: string;
  fields: ParsedField[];
}

export function createSensorClient(deps: {
  transport: Transport;
  log: Logger;
  /**
   * Whose presence subscription requests to approve (the devices we own): `true` approves, `false` refuses,
   * `undefined` leaves the request pending on the server (a later session may approve it). Default: refuse.
   */
  approve?: (bareJid: string) => boolean | undefined;
}) {
  const { transport } = deps;
  let nextSeqnr = Math.floor(Math.random() * 1000) + 1;
  const waiters = new Map<string, (el: Element) => void>();
  const notificationListeners: ((n: Notification) => void)[] = [];
  // Prosody 0.12's PEP sends a local contact each event twice (to the bare JID, through its disco "is_self"
  // shortcut, and to the full JID), and the last item again on every presence: keep recent payloads to drop
  // repeats. A new reading always differs (its timestamp), so nothing real is dropped.
  const recent = new Set<string>();
  const seen = (key: string) => {
    if (recent.has(key)) return true;
    recent.add(key);
    if (recent.size > 4096) recent.delete(recent.values().next().value as string);
    return false;
  };

  // +notify in our caps makes PEP services push sensor readings of our friends to us (XEP-0163 §4).
  const disco = createDisco(transport, {
    identity: { category: 'client', type: 'bot', name: 'xmpp-iot client' },
    features: [`${NS.sensordata}+notify`, NS.ping],
    capsNode: `${CAPS_NODE}/client`,
  });

  transport.on('stanza', (stanza: Element) => {
    const from = stanza.attrs.from as string | undefined;
    if (!from) return;
    if (stanza.is('presence') && stanza.attrs.type === 'subscribe') {
      const bare = bareOf(from);
      const ok = deps.approve ? deps.approve(bare) : false;
      if (ok === undefined) return;
      void transport.send(xml('presence', { to: bare, type: ok ? 'subscribed' : 'unsubscribed' }));
      return;
    }
    if (stanza.is('presence') && stanza.attrs.type === 'subscribed') {
      // Prosody's PEP learns that we want notifications only from a presence that arrives after our
      // subscription exists, and nothing re-sends it on approval: send it to the device now.
      void transport.send(xml('presence', { to: bareOf(from) }, disco.caps()));
      return;
    }
    if (!stanza.is('message')) return;
    const event = stanza.getChild('event', NS.pubsubEvent);
    if (event) {
      const items = event.getChild('items');
      for (const item of items?.getChildren('item') ?? []) {
        const fields = item.getChild('fields', NS.sensordata);
        if (!fields) continue;
        const parsed = parseFields(fields);
        // A reading is identified by publisher, item and its timestamps (a stored item comes back re-serialised).
        const stamps = [...new Set(parsed.map((f) => `${f.nodeId}@${f.timestamp}`))].join(',');
        if (seen(`${bareOf(from)}\u0000${items?.attrs.node}\u0000${item.attrs.id}\u0000${stamps}`)) continue;
        const n: Notification = {
          from,
          node: items?.attrs.node as string,
          itemId: item.attrs.id as string,
          fields: parsed,
        };
        for (const l of notificationListeners) l(n);
      }
      return;
    }
    const children = stanza.getChildElements();
    // The cut marker first: `done` on the same message ends the readout.
    for (const child of children) {
      const markers = [
        ...(child.name === 'truncated' && child.attrs.xmlns === NS_READOUT ? [child] : []),
        ...(child.attrs.xmlns === NS.sensordata ? child.getChildren('truncated', NS_READOUT) : []),
      ];
      for (const m of markers) waiters.get(`${from}\u0000${m.attrs.seqnr ?? child.attrs.seqnr}`)?.(m);
    }
    for (const child of children) {
      if (child.attrs.xmlns !== NS.sensordata) continue;
      waiters.get(`${from}\u0000${child.attrs.seqnr}`)?.(child);
    }
  });

  return {
    caps: disco.caps,
    /** Announces availability with caps (needed to receive PEP notifications). */
    announce: () => transport.send(xml('presence', {}, disco.caps())),
    subscribe: (jid: string) => transport.send(xml('presence', { to: bareOf(jid), type: 'subscribe' })),
    onNotification(listener: (n: Notification) => void) {
      notificationListeners.push(listener);
    },
    /** XEP-0323 readout of `to` (a full JID); resolves when the device says done. */
    async readout(to: string, params: ReadoutParams = {}): Promise<ReadoutResult> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await readoutOnce(to, params);
        } catch (err) {
          if (!(err instanceof XmppTimeoutError) || attempt >= (params.retries ?? 0)) throw err;
        }
      }
    },
    async cancel(to: string, seqnr: number): Promise<void> {
      await transport.request(
        xml('iq', { type: 'get', to }, xml('cancel', { xmlns: NS.sensordata, seqnr: String(seqnr) })),
      );
    },
    get lastSeqnr() {
      return nextSeqnr - 1;
    },
  };

  async function readoutOnce(to: string, params: ReadoutParams): Promise<ReadoutResult> {
    const seqnr = nextSeqnr++;
    const key = `${to}\u0000${seqnr}`;
    const timeoutMs = params.timeoutMs ?? 10_000;
    const result: ReadoutResult = {
      accepted: false,
      queued: false,
      started: false,
      fields: [],
      failures: [],
      done: false,
    };
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        waiters.delete(key);
        reject(new XmppTimeoutError(`readout ${seqnr} of ${to}`, timeoutMs));
      }, timeoutMs);
      waiters.set(key, (el) => {
        // Data before `accepted` means accepted (XEP-0323 §3.2).
        result.accepted = true;
        if (el.name === 'truncated' && el.attrs.xmlns === NS_READOUT) {
          const limit = Number(el.attrs.limit);
          result.truncated = {
            ...(Number.isFinite(limit) && el.attrs.limit !== undefined ? { limit } : {}),
            ...(el.attrs.resume ? { resume: el.attrs.resume as string } : {}),
          };
          return;
        }
        if (el.name === 'started') result.started = true;
        if (el.name === 'fields') result.fields.push(...parseFields(el));
        if (el.name === 'failure') {
          for (const e of el.getChildren('error')) {
            // A cut history is said twice (to people and to programs): keep it in `truncated` only.
            if (result.truncated && e.text().startsWith(HISTORY_TRUNCATED)) continue;
            result.failures.push({
              nodeId: (e.attrs.nodeId as string) ?? '',
              timestamp: (e.attrs.timestamp as string) ?? '',
              message: e.text(),
            });
          }
        }
        if (el.name === 'done' || parseBoolean(el.attrs.done as string | undefined)) {
          result.done = true;
          clearTimeout(timer);
          waiters.delete(key);
          resolve();
        }
      });
    });
    finished.catch(() => undefined); // observed below; avoids an unhandled rejection if the IQ fails first
    try {
      const answer = await transport.request(
        xml('iq', { type: 'get', to }, readoutRequestElement({ seqnr, ...params })),
        timeoutMs,
      );
      const accepted = answer.getChild('accepted', NS.sensordata);
      result.accepted = true;
      result.queued = parseBoolean(accepted?.attrs.queued as string | undefined) === true;
    } catch (err) {
      waiters.delete(key);
      clearTimeout(timer);
      throw err;
    }
    await finished;
    return result;
  }
}
