/**
 * The hub's XEP-0323 client for backfills: a historical readout of one thing from a point in time, paged until
 * the agent says nothing was cut (our `truncated` marker, src/iot/sensordata.ts `historyTruncated`). The
 * operator's client (src/operator/sensor-client.ts) is not reachable from the hub (roles never import each other)
 * and does more than a backfill needs (disco, PEP, presence approval), hence this small one.
 * Sessions are keyed by (thing's full JID, seqnr) like the agent keys its own (XEP-0323 §3.1).
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { IotError, XmppTimeoutError } from '../core/errors.js';
import {
  NS_READOUT,
  type ParsedField,
  parseBoolean,
  parseDateTime,
  parseFields,
  readoutRequestElement,
} from '../iot/sensordata.js';
import { NS } from '../xmpp/ns.js';
import type { Transport } from '../xmpp/transport.js';

export interface HistoryPage {
  fields: ParsedField[];
  /** Where the rest begins when the agent cut this page at its limit (ms since the epoch). */
  resume?: number;
}

export interface HistoryReader {
  /** One historical readout from `from` (inclusive; everything when undefined). */
  page(to: string, from: number | undefined): Promise<HistoryPage>;
  /**
   * Every page from `from` on, each handed to `onPage` before the next is asked for (the caller stores it, so
   * an interrupted backfill keeps what it got). Returns how many pages.
   */
  readAll(
    to: string,
    from: number | undefined,
    onPage: (page: HistoryPage) => Promise<void>,
  ): Promise<number>;
  /** Gives up the readouts in progress from `to` (it went offline: its answer will not come). */
  cancel(to: string): void;
  /** Readouts in progress. */
  pending(): number;
  stop(): void;
}

/** Most pages one backfill asks for: an agent that keeps answering `truncated` at the same point cannot loop us. */
const MAX_PAGES = 10_000;

export function createHistoryReader(deps: {
  transport: Transport;
  /**
   * Our full JID at the time of asking (a component's domain and a resource, or the JID an account bound):
   * where the agent sends the fields.
   */
  from: () => string;
  timeoutMs?: number;
  /** Most fields kept from one readout (beyond that the readout fails: a peer cannot grow our memory). */
  maxFields?: number;
}): HistoryReader {
  const { transport } = deps;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const maxFields = deps.maxFields ?? 500_000;
  let nextSeqnr = Math.floor(Math.random() * 1_000_000) + 1;
  const sessions = new Map<string, (el: Element) => void>();
  const cancels = new Map<string, (err: Error) => void>();

  const onStanza = (stanza: Element) => {
    if (!stanza.is('message')) return;
    const from = stanza.attrs.from as string | undefined;
    if (!from) return;
    for (const child of stanza.getChildElements()) {
      if (child.attrs.xmlns !== NS.sensordata && child.attrs.xmlns !== NS_READOUT) continue;
      sessions.get(`${from}\u0000${child.attrs.seqnr}`)?.(child);
    }
  };
  transport.on('stanza', onStanza);

  async function page(to: string, from: number | undefined): Promise<HistoryPage> {
    const seqnr = nextSeqnr++;
    const key = `${to}\u0000${seqnr}`;
    const fields: ParsedField[] = [];
    let resume: number | undefined;
    let failure: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      const arm = () => {
        clearTimeout(timer);
        // Measured from the last message: a long history streams for longer than one timeout.
        timer = setTimeout(() => {
          sessions.delete(key);
          reject(new XmppTimeoutError(`historical readout ${seqnr} of ${to}`, timeoutMs));
        }, timeoutMs);
      };
      arm();
      sessions.set(key, (el) => {
        arm();
        const markers = el.attrs.xmlns === NS_READOUT ? [el] : el.getChildren('truncated', NS_READOUT);
        for (const m of markers) {
          const at = parseDateTime((m.attrs.resume as string | undefined) ?? '');
          if (at !== undefined) resume = at;
        }
        if (el.attrs.xmlns !== NS.sensordata) return;
        if (el.name === 'fields') {
          fields.push(...parseFields(el));
          if (fields.length > maxFields) {
            failure = `more than ${maxFields} fields in one readout`;
            finish();
            return;
          }
        }
        if (el.name === 'failure' && markers.length === 0) {
          failure = el
            .getChildren('error')
            .map((e) => `${e.attrs.nodeId ?? ''}: ${e.text()}`)
            .join('; ');
        }
        if (el.name === 'done' || parseBoolean(el.attrs.done as string | undefined)) finish();
      });
      function finish() {
        clearTimeout(timer);
        sessions.delete(key);
        resolve();
      }
    });
    finished.catch(() => undefined); // observed below, after the IQ
    const cancelled = new Promise<never>((_, reject) => cancels.set(key, reject));
    cancelled.catch(() => undefined);
    try {
      await Promise.race([
        transport.request(
          xml(
            'iq',
            { type: 'get', to, from: deps.from() },
            readoutRequestElement({
              seqnr,
              types: ['historicalOther'],
              ...(from !== undefined ? { from: new Date(from) } : {}),
            }),
          ),
          timeoutMs,
        ),
        cancelled,
      ]);
      await Promise.race([finished, cancelled]);
    } finally {
      clearTimeout(timer);
      sessions.delete(key);
      cancels.delete(key);
    }
    // A readout that failed (other than a cut history) may have stopped short of its end: not complete.
    if (failure !== undefined) throw new IotError('IOT_ERR_XMPP', `historical readout of ${to}: ${failure}`);
    return { fields, ...(resume !== undefined ? { resume } : {}) };
  }

  return {
    page,
    async readAll(to, from, onPage) {
      let at = from;
      for (let n = 1; n <= MAX_PAGES; n++) {
        const p = await page(to, at);
        await onPage(p);
        if (p.resume === undefined) return n;
        // The agent resends readings at `resume` itself (fields are unique per node, name and timestamp):
        // harmless, the store is idempotent. Not moving forward would be a loop.
        if (at !== undefined && p.resume <= at)
          throw new IotError(
            'IOT_ERR_XMPP',
            `historical readout of ${to} does not move past ${new Date(at).toISOString()}`,
          );
        at = p.resume;
      }
      throw new IotError('IOT_ERR_XMPP', `historical readout of ${to}: more than ${MAX_PAGES} pages`);
    },
    cancel(to) {
      for (const [key, reject] of cancels)
        if (key.startsWith(`${to}\u0000`)) reject(new IotError('IOT_ERR_XMPP', `${to} went offline`));
    },
    pending: () => sessions.size,
    stop() {
      transport.off('stanza', onStanza);
      sessions.clear();
    },
  };
}
