/**
 * Ingest: the hub keeps every reading of every thing it knows (claimed in its registry, or listed in the hub
 * config's `things`), once, with no holes (issue 16).
 *
 * Two paths feed the history, and the second makes the first's losses harmless:
 * - **Live**: the hub asks each thing for a presence subscription (the agent accepts its provisioning servers),
 *   subscribes explicitly to its PEP node `urn:xmpp:iot:sensordata` with our full JID (ejabberd 23.01 delivers
 *   PEP events to a component only for a subscription with a resource; Prosody 0.12 delivers either way) and
 *   stores each notification. PEP does not redeliver: whatever is published while the hub, or its link, or the
 *   server is away is never notified.
 * - **Backfill**: a XEP-0323 historical readout (`from` = the last reading the hub knows complete, minus a small
 *   overlap) whenever a thing comes online (its presence), the hub (re)connects, and periodically for every
 *   online thing (`periodMs`: the detector of gaps nothing else reveals, e.g. a notification the server dropped).
 *   Paged until the agent says nothing was cut (its `historyLimit`). Agents answer it because a thing trusts
 *   its provisioning servers to read (src/agent/access.ts), and the hub is that server.
 *
 * The history of each thing is kept a **complete prefix**: while a thing is being backfilled (or the hub has
 * not yet caught up with it), its notifications wait in a bounded buffer and are stored after the backfill.
 * So the newest stored timestamp is always a safe place for the next backfill to start, also after the hub
 * itself restarts. The store is idempotent on (thing, node, timestamp, field): overlaps cost bandwidth only.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type ParsedField, parseFields } from '../iot/sensordata.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import { isAccountJid } from '../xmpp/peer-address.js';
import { type Transport, XmppStanzaError } from '../xmpp/transport.js';
import { createHistoryReader, type HistoryReader } from './backfill.js';
import type { HistoryStore, StoredReading } from './history.js';

export interface IngestOptions {
  /** Bare JIDs of things to ingest besides the registry's claimed ones (hub config `things`). */
  things?: readonly string[];
  /** Every online thing is backfilled this often (default 30 s). */
  periodMs?: number;
  /**
   * Backfills start this long before the newest reading known complete (default 5 s): readings of a thing's
   * several devices may reach its store (and the hub) slightly out of timestamp order.
   */
  overlapMs?: number;
  /** Silence after which a historical readout is given up (default 30 s). */
  readoutTimeoutMs?: number;
  /** Notifications held per thing while it is backfilled (default 10,000; beyond, another backfill fetches them). */
  bufferLimit?: number;
  /** Backfills at once (default 4). */
  concurrency?: number;
  /** The resource of a component hub's full JID (default `ingest`); an account hub uses the one it bound. */
  resource?: string;
}

export interface ThingIngestStats {
  jid: string;
  online: boolean;
  /** False while a backfill runs or is due: notifications wait in the buffer. */
  synced: boolean;
  /** Newest reading timestamp ingested (ms), if any. */
  lastSeen?: number;
  /** The thing refused our historical readouts (not trusting the hub): live notifications only. */
  refused?: boolean;
}

export interface IngestStats {
  /** Field values newly stored (live and backfilled). */
  readingsIngested: number;
  /** PEP notifications received from known things. */
  notifications: number;
  /** Field values newly stored from notifications. */
  liveReadings: number;
  /** Backfills completed, failed, and the field values they newly stored. */
  backfills: number;
  backfillFailures: number;
  backfilledReadings: number;
  /** Age of the newest live reading when it was stored (ms): the ingest lag. */
  lagMs?: number;
  /** Largest such lag since the last stats() call. */
  maxLagMs?: number;
  /** Notifications dropped because a thing's buffer was full (fetched again by backfill). */
  bufferOverflows: number;
  things: ThingIngestStats[];
}

export interface Ingest {
  start(): void;
  /** Stops timers and waits for backfills in progress (call before closing the history store). */
  stop(): Promise<void>;
  stats(): IngestStats;
  /** Re-reads the known things (config + registry); called periodically, and by whoever claims a thing. */
  refresh(): void;
  /** Backfills one thing now (or all online ones); resolves when done. Tests and the CLI use it. */
  backfill(thing?: string): Promise<void>;
  /** Resolves when no backfill runs or waits and every notification received so far is stored. */
  idle(): Promise<void>;
}

interface ThingState {
  jid: string;
  /** The full JID it is online with (its latest available presence). */
  full?: string;
  synced: boolean;
  buffer: StoredReading[];
  overflowed: boolean;
  /** A backfill runs / another one was asked for while it ran. */
  running?: Promise<void>;
  again: boolean;
  /** Subscribed to its PEP node on this connection. */
  subscribed: boolean;
  /** Newest timestamp a completed backfill has proven complete (in memory; the store's newest after restart). */
  completeUntil?: number;
  lastSeen?: number;
  refused: boolean;
  /** Backfills failed in a row (retried with backoff while it is online). */
  failures: number;
  retry?: NodeJS.Timeout;
  /** When we last asked for its presence because it published while we had none (at most every 5 s). */
  askedAt?: number;
}

export function createIngest(deps: {
  transport: Transport;
  history: HistoryStore;
  /** The registry's claimed things (bare JIDs). */
  claimed?: () => readonly string[];
  /** Our XEP-0115 caps element for presences (advertising +notify). */
  caps?: () => Element;
  log: Logger;
  options?: IngestOptions;
}): Ingest {
  const { transport, history, log } = deps;
  const o = deps.options ?? {};
  const periodMs = o.periodMs ?? 30_000;
  const overlapMs = o.overlapMs ?? 5_000;
  const bufferLimit = o.bufferLimit ?? 10_000;
  const concurrency = o.concurrency ?? 4;
  const resource = o.resource ?? 'ingest';
  const configured = (o.things ?? []).map((t) => t.toLowerCase());
  // A component may send from any resource of its domain. An account must send from the full JID it bound:
  // ejabberd closes the stream of a client that sends from another resource (invalid-from), and Prosody
  // rewrites the `from`, so a subscription for another resource would never be delivered.
  const self = () =>
    (isAccountJid(transport.bareJid) ? transport.jid : undefined) ?? `${transport.bareJid}/${resource}`;
  let reader: HistoryReader | undefined;
  const readerFor = () =>
    (reader ??= createHistoryReader({
      transport,
      from: self,
      ...(o.readoutTimeoutMs !== undefined ? { timeoutMs: o.readoutTimeoutMs } : {}),
    }));

  const things = new Map<string, ThingState>();
  const counters = {
    readingsIngested: 0,
    notifications: 0,
    liveReadings: 0,
    backfills: 0,
    backfillFailures: 0,
    backfilledReadings: 0,
    bufferOverflows: 0,
  };
  let lagMs: number | undefined;
  let maxLagMs: number | undefined;
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  // --- storing -------------------------------------------------------------------------------------------

  const toStored = (thing: string, fields: ParsedField[]): StoredReading[] =>
    fields.filter(storable).map((f) => ({ ...f, thing }));

  const seen = (s: ThingState, readings: readonly StoredReading[]) => {
    for (const r of readings)
      if (s.lastSeen === undefined || r.timestamp > s.lastSeen) s.lastSeen = r.timestamp;
  };

  const hold = (s: ThingState, readings: StoredReading[]) => {
    if (s.overflowed) return;
    if (s.buffer.length + readings.length > bufferLimit) {
      // Dropped, not lost: they are in the thing's store, and the backfill in progress runs once more.
      s.buffer = [];
      s.overflowed = true;
      counters.bufferOverflows++;
      return;
    }
    s.buffer.push(...readings);
  };

  /** Live readings of synced things, stored in order, in batches. */
  const queue: StoredReading[] = [];
  let writing: Promise<void> | undefined;
  const enqueue = (readings: StoredReading[]) => {
    queue.push(...readings);
    // What arrives between drain's last look at the queue and its end starts the next drain.
    writing ??= drain().finally(() => {
      writing = undefined;
      if (queue.length) enqueue([]);
    });
  };
  async function drain(): Promise<void> {
    while (queue.length) {
      const batch = queue.splice(0, 5000);
      const now: StoredReading[] = [];
      for (const r of batch) {
        const s = things.get(r.thing);
        if (!s) continue;
        // A backfill started after this was queued: it waits with the thing's buffer (complete prefix).
        if (s.synced) now.push(r);
        else hold(s, [r]);
      }
      if (!now.length) continue;
      try {
        const n = await history.insert(now);
        counters.liveReadings += n;
        counters.readingsIngested += n;
        const newest = Math.max(...now.map((r) => r.timestamp));
        lagMs = Math.max(0, Date.now() - newest);
        maxLagMs = Math.max(maxLagMs ?? 0, lagMs);
      } catch (err) {
        // Not stored: those things fall behind, and a backfill from their (unchanged) newest reading repairs it.
        log.warn({ err: errorMessage(err), readings: now.length }, 'could not store live readings');
        for (const jid of new Set(now.map((r) => r.thing))) {
          const s = things.get(jid);
          if (s) {
            s.synced = false;
            schedule(s);
          }
        }
      }
    }
  }

  // --- backfill ------------------------------------------------------------------------------------------

  const waiting: (() => void)[] = [];
  let active = 0;
  const runningAll = new Set<Promise<void>>();
  const slot = (): Promise<void> => {
    if (active < concurrency) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      waiting.push(() => {
        active++;
        resolve();
      }),
    );
  };
  const release = () => {
    active--;
    waiting.shift()?.();
  };

  /** Asks for a backfill of `s` (at most `concurrency` run at once); resolves when it has run. */
  function schedule(s: ThingState): Promise<void> {
    s.synced = false;
    if (s.running) {
      s.again = true;
      return s.running;
    }
    const p = (async () => {
      do {
        s.again = false;
        await slot();
        try {
          await run(s);
        } finally {
          release();
        }
      } while (s.again && !stopped && s.full);
    })().finally(() => {
      s.running = undefined;
      runningAll.delete(p);
    });
    s.running = p;
    runningAll.add(p);
    return p;
  }

  async function run(s: ThingState): Promise<void> {
    if (stopped) return;
    const to = s.full;
    if (!to || !transport.online) return; // stays behind: its presence (or the next connection) starts it
    try {
      const last = s.completeUntil ?? (await history.lastTimestamp(s.jid));
      const from = last === undefined ? undefined : Math.max(0, last - overlapMs);
      let stored = 0;
      let newest = last;
      await readerFor().readAll(to, from, async (page) => {
        const readings = toStored(s.jid, page.fields);
        if (!readings.length) return;
        const n = await history.insert(readings);
        stored += n;
        seen(s, readings);
        for (const r of readings) if (newest === undefined || r.timestamp > newest) newest = r.timestamp;
      });
      counters.backfills++;
      s.failures = 0;
      counters.backfilledReadings += stored;
      counters.readingsIngested += stored;
      s.refused = false;
      if (stored) log.info({ thing: s.jid, stored, from }, 'backfilled');
      if (s.overflowed) {
        // Notifications were dropped during this backfill: one more round picks them up from the agent.
        s.overflowed = false;
        s.completeUntil = newest;
        s.again = true;
        return;
      }
      await flush(s);
      s.completeUntil = newest;
    } catch (err) {
      if (err instanceof XmppStanzaError && err.condition === 'forbidden') {
        // Not trusted to read: keep what PEP brings (with its holes), and say how to fix it, once.
        if (!s.refused)
          log.warn(
            { thing: s.jid, err: errorMessage(err) },
            'the thing refuses historical readouts from the hub: add the hub to its provisioning.servers, or its history will have gaps',
          );
        s.refused = true;
        await flush(s);
        return;
      }
      counters.backfillFailures++;
      s.failures++;
      const delay = Math.min(periodMs, 1000 * 2 ** Math.min(s.failures - 1, 10));
      log.info({ thing: s.jid, err: errorMessage(err), retryMs: delay }, 'backfill failed');
      // Retried while it is online (a lost readout, a thing busy reconnecting); its next presence retries too.
      clearTimeout(s.retry);
      s.retry = setTimeout(() => {
        s.retry = undefined;
        if (!stopped && s.full && !s.synced && !s.running) void schedule(s);
      }, delay);
      s.retry.unref();
    }
  }

  /** Stores what waited during the backfill, then lets live readings through again. */
  async function flush(s: ThingState): Promise<void> {
    while (s.buffer.length) {
      const held = s.buffer;
      s.buffer = [];
      const n = await history.insert(held);
      counters.liveReadings += n;
      counters.readingsIngested += n;
    }
    s.synced = true;
  }

  // --- XMPP ----------------------------------------------------------------------------------------------

  const known = (from: string): ThingState | undefined => {
    try {
      return things.get(bareOf(from));
    } catch {
      return undefined;
    }
  };

  function caps(): Element {
    return xml('presence', { from: self() }, ...(deps.caps ? [deps.caps()] : []));
  }

  /** Subscribes our full JID to the thing's PEP node (Prosody and ejabberd both keep one subscription per JID). */
  async function subscribePep(s: ThingState): Promise<void> {
    if (s.subscribed) return;
    s.subscribed = true;
    try {
      await transport.request(
        xml(
          'iq',
          { type: 'set', to: s.jid, from: self() },
          xml('pubsub', { xmlns: NS.pubsub }, xml('subscribe', { node: NS.sensordata, jid: self() })),
        ),
      );
    } catch (err) {
      // ejabberd: item-not-found until the thing's first publish. Tried again at its next presence.
      s.subscribed = false;
      log.debug({ thing: s.jid, err: errorMessage(err) }, 'PEP subscription not (yet) possible');
    }
  }

  /**
   * Asks for the thing's presence. Only a subscribe: its answer (`subscribed`, auto-replied by the thing's
   * server when the subscription exists, RFC 6121 §3.1.3, or sent by the agent when it accepts its provisioning
   * server) leads to our presence and a probe. A probe before the subscription exists is answered `unsubscribed`
   * by Prosody, which also drops the pending request of a thing that is offline.
   */
  function greet(s: ThingState): void {
    void transport
      .send(xml('presence', { type: 'subscribe', to: s.jid, from: transport.bareJid }))
      .catch(() => undefined);
  }

  /** Our presence from our full JID (ejabberd delivers PEP events to a component's full JID only while it is
   * "available" there), then a probe: the answer, the thing's presence, starts its backfill. */
  function probe(s: ThingState): void {
    const send = (el: Element) => transport.send(el).catch(() => undefined);
    const p = caps();
    p.attrs.to = s.jid;
    void send(p);
    void send(xml('presence', { type: 'probe', to: s.jid, from: transport.bareJid }));
  }

  /**
   * It publishes, but we have no presence of it (lost in a restart, or its subscription answer never came): ask
   * again, at most every 5 s. Its presence then starts the backfill its buffered notifications wait for.
   */
  function askPresence(s: ThingState): void {
    const now = Date.now();
    if (s.askedAt !== undefined && now - s.askedAt < 5000) return;
    s.askedAt = now;
    greet(s);
    probe(s);
  }

  function onPresence(stanza: Element): void {
    const from = stanza.attrs.from as string;
    const s = known(from);
    if (!s) return;
    const type = stanza.attrs.type as string | undefined;
    if (type === 'subscribed') {
      probe(s);
      return;
    }
    if (type === 'subscribe') {
      // The agent befriends its provisioning server both ways.
      void transport
        .send(xml('presence', { type: 'subscribed', to: s.jid, from: transport.bareJid }))
        .catch(() => undefined);
      return;
    }
    if (type === 'probe') {
      const p = caps();
      p.attrs.to = from;
      void transport.send(p).catch(() => undefined);
      return;
    }
    if (type === 'unavailable') {
      if (s.full === from || !from.includes('/')) {
        // A readout in progress to it will not be answered: give it up, its next presence backfills again.
        if (s.full) reader?.cancel(s.full);
        s.full = undefined;
      }
      return;
    }
    if (type !== undefined || !from.includes('/')) return;
    const wasOnline = s.full === from;
    s.full = from;
    // A repeated presence (status change) of a thing we are caught up with needs no backfill.
    if (wasOnline && s.synced) return;
    void subscribePep(s).then(() => schedule(s));
  }

  function onMessage(stanza: Element): void {
    const event = stanza.getChild('event', NS.pubsubEvent);
    if (!event) return;
    const s = known(stanza.attrs.from as string);
    if (!s) return;
    const items = event.getChild('items');
    if (items?.attrs.node !== NS.sensordata) return;
    for (const item of items.getChildren('item')) {
      const fields = item.getChild('fields', NS.sensordata);
      if (!fields) continue;
      counters.notifications++;
      if (!s.full) askPresence(s);
      const readings = toStored(s.jid, parseFields(fields));
      if (!readings.length) continue;
      seen(s, readings);
      if (s.synced) enqueue(readings);
      else hold(s, readings);
    }
  }

  const onStanza = (stanza: Element) => {
    if (stopped || !stanza.attrs.from) return;
    if (stanza.is('presence')) onPresence(stanza);
    else if (stanza.is('message')) onMessage(stanza);
  };

  const onOnline = () => {
    for (const s of things.values()) {
      // Whatever was published while we were away was never notified: every thing is behind until backfilled.
      s.synced = false;
      s.subscribed = false;
      s.full = undefined;
      greet(s);
    }
  };
  const onOffline = () => {
    for (const s of things.values()) {
      s.synced = false;
      s.full = undefined;
    }
  };

  function refresh(): void {
    const wanted = new Set([...configured, ...(deps.claimed?.() ?? []).map((j) => j.toLowerCase())]);
    for (const jid of wanted) {
      if (things.has(jid)) continue;
      const s: ThingState = {
        failures: 0,
        jid,
        synced: false,
        buffer: [],
        overflowed: false,
        again: false,
        subscribed: false,
        refused: false,
      };
      things.set(jid, s);
      if (started && transport.online) greet(s);
    }
    for (const [jid, s] of things) {
      if (wanted.has(jid)) continue;
      // Disowned or removed: no longer ours to keep (its stored history stays).
      things.delete(jid);
      s.buffer = [];
    }
  }

  function tick(): void {
    try {
      refresh();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not read the registry for things to ingest');
    }
    for (const s of things.values()) if (s.full) void schedule(s);
  }

  return {
    start() {
      if (started) return;
      refresh(); // before `started`: onOnline below greets them all
      started = true;
      transport.on('stanza', onStanza);
      transport.on('online', onOnline);
      transport.on('offline', onOffline);
      if (transport.online) onOnline();
      timer = setInterval(tick, periodMs);
      timer.unref();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      transport.off('stanza', onStanza);
      transport.off('online', onOnline);
      transport.off('offline', onOffline);
      for (const go of waiting.splice(0)) go();
      for (const s of things.values()) clearTimeout(s.retry);
      await Promise.allSettled([...runningAll]);
      await writing;
      reader?.stop();
    },
    stats() {
      const out: IngestStats = {
        ...counters,
        ...(lagMs !== undefined ? { lagMs } : {}),
        ...(maxLagMs !== undefined ? { maxLagMs } : {}),
        things: [...things.values()].map((s) => ({
          jid: s.jid,
          online: s.full !== undefined,
          synced: s.synced,
          ...(s.lastSeen !== undefined ? { lastSeen: s.lastSeen } : {}),
          ...(s.refused ? { refused: true } : {}),
        })),
      };
      maxLagMs = undefined;
      return out;
    },
    refresh,
    async backfill(thing) {
      const list = thing ? [things.get(thing.toLowerCase())] : [...things.values()];
      await Promise.all(list.filter((s): s is ThingState => s?.full !== undefined).map((s) => schedule(s)));
    },
    async idle() {
      for (;;) {
        await Promise.allSettled([...runningAll]);
        await writing;
        if (runningAll.size === 0 && !writing && queue.length === 0) return;
      }
    },
  };
}

/** What the history stores accept (issue 16's store refuses a batch with a bad reading): skip the rest. */
function storable(f: ParsedField): boolean {
  return (
    Number.isInteger(f.timestamp) &&
    Math.abs(f.timestamp) <= 8.64e15 &&
    f.name.length > 0 &&
    f.name.length <= 1024 &&
    f.nodeId.length <= 1024 &&
    f.value.length <= 16_384 &&
    (f.unit?.length ?? 0) <= 256 &&
    (f.dataType?.length ?? 0) <= 256 &&
    !`${f.nodeId}${f.name}${f.value}${f.unit ?? ''}${f.dataType ?? ''}`.includes('\u0000')
  );
}
