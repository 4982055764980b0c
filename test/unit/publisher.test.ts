/** The publisher's bookkeeping against a fake transport (the servers' behaviour is in test/integration). */
import { EventEmitter } from 'node:events';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { XmppOfflineError } from '../../src/core/errors.js';
import { openStore, type ReadingStore } from '../../src/store/store.js';
import { NS } from '../../src/xmpp/ns.js';
import { createPublisher } from '../../src/agent/publisher.js';
import { type Transport, XmppStanzaError } from '../../src/xmpp/transport.js';
import { captureLogger } from '../helpers/log-capture.js';

type Answer = (iq: Element) => Promise<Element> | 'hang';

/** A transport whose answers the test scripts; it records each request and the timeout asked for. */
function fakeTransport(answer: Answer) {
  const events = new EventEmitter();
  const requests: { iq: Element; ms: number | undefined }[] = [];
  const pending = new Set<(err: Error) => void>();
  let online = true;
  const transport = {
    get online() {
      return online;
    },
    request(iq: Element, ms?: number) {
      requests.push({ iq, ms });
      if (!online) return Promise.reject(new XmppOfflineError('iq'));
      const a = answer(iq);
      if (a !== 'hang') return a;
      return new Promise<Element>((_, reject) => pending.add(reject));
    },
    on: (e: string, l: (...args: unknown[]) => void) => events.on(e, l),
    off: (e: string, l: (...args: unknown[]) => void) => events.off(e, l),
  } as unknown as Transport;
  return {
    transport,
    requests,
    offline() {
      online = false;
      for (const reject of pending) reject(new XmppOfflineError('iq'));
      pending.clear();
      events.emit('offline');
    },
    online() {
      online = true;
      events.emit('online', 'agent@localhost/agent');
    },
  };
}

const ok = async () => xml('iq', { type: 'result' });
const isPublish = (iq: Element) => !!iq.getChild('pubsub', NS.pubsub)?.getChild('publish');
const isConfigureSet = (iq: Element) =>
  iq.attrs.type === 'set' && !!iq.getChild('pubsub', NS.pubsubOwner)?.getChild('configure');
const itemTimestamp = (iq: Element) =>
  iq
    .getChild('pubsub')
    ?.getChild('publish')
    ?.getChild('item')
    ?.getChild('fields')
    ?.getChild('node')
    ?.getChild('timestamp')?.attrs.value as string;
const preconditionNotMet = (iq: Element) =>
  new XmppStanzaError(
    'precondition-not-met',
    undefined,
    xml(
      'iq',
      { type: 'error', id: iq.attrs.id },
      xml(
        'error',
        { type: 'cancel' },
        xml('precondition-not-met', { xmlns: NS.pubsubErrors }),
        xml('conflict', { xmlns: NS.stanzas }),
      ),
    ),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stores: ReadingStore[] = [];
const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
  for (const s of stores.splice(0)) s.close();
});

function setUp(answer: Answer, readings: number, options: { holdAfterLogin?: boolean } = {}) {
  const store = openStore(':memory:');
  stores.push(store);
  for (let i = 0; i < readings; i++)
    store.add(
      {
        deviceId: 'host',
        timestamp: Date.UTC(2026, 0, 1, 0, 0, i),
        fields: [{ name: 'n', type: 'int', value: i, flags: ['momentary'], qos: ['automaticReadout'] }],
      },
      true,
    );
  const t = fakeTransport(answer);
  const { log, entries } = captureLogger('debug');
  const publisher = createPublisher({
    transport: t.transport,
    store,
    target: { service: 'pep', node: NS.sensordata, accessModel: 'presence' },
    owners: [],
    log,
    window: 4,
    ...options,
  });
  stops.push(() => publisher.stop());
  return { ...t, store, publisher, entries };
}

describe('publisher', () => {
  it('after a login, with holdAfterLogin, publishes nothing until released (the agent first hears its owners)', async () => {
    const s = setUp(ok, 5, { holdAfterLogin: true });
    s.offline();
    s.online();
    s.publisher.kick(); // a new reading while held
    await sleep(50);
    expect(s.requests).toEqual([]);
    expect(s.store.outboxDepth()).toBe(5);
    s.publisher.release();
    await sleep(50);
    expect(s.store.outboxDepth()).toBe(0);
    expect(s.requests.filter((r) => isPublish(r.iq))).toHaveLength(5);
  });

  it('configures the node first, then publishes every reading in order with no IQ timer', async () => {
    const s = setUp(ok, 10);
    s.publisher.kick();
    await sleep(50);
    expect(s.store.outboxDepth()).toBe(0);
    expect(isConfigureSet(s.requests[0]!.iq)).toBe(true);
    expect(s.requests.every((r) => r.ms === 0)).toBe(true);
    const stamps = s.requests.filter((r) => isPublish(r.iq)).map((r) => itemTimestamp(r.iq));
    expect(stamps).toEqual(
      Array.from({ length: 10 }, (_, i) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()),
    );
  });

  it('sends what was not acknowledged again after a reconnect, in order, and nothing acknowledged twice', async () => {
    let publishes = 0;
    const s = setUp((iq) => (isPublish(iq) && ++publishes === 3 ? 'hang' : ok()), 6);
    s.publisher.kick();
    await sleep(30);
    // 0 and 1 answered, the window slid on to 4 and 5; 2 hangs, 3-5 wait. Acknowledgements are written per
    // window's worth (or when nothing is in flight), so none is written yet.
    expect(s.store.outboxDepth()).toBe(6);
    s.offline();
    await sleep(10);
    s.online();
    await sleep(50);
    expect(s.store.outboxDepth()).toBe(0);
    const stamps = s.requests
      .filter((r) => isPublish(r.iq))
      .map((r) => new Date(itemTimestamp(r.iq)).getUTCSeconds());
    // 0-5 went out before the connection dropped; after it, 2 onwards again, in order.
    expect(stamps).toEqual([0, 1, 2, 3, 4, 5, 2, 3, 4, 5]);
    expect(s.entries.filter((e) => e.level >= 50)).toEqual([]); // going offline is not a publishing failure
  });

  it('keeps the window full: each acknowledgement lets the next reading go, never more than the window in flight', async () => {
    const answers: Array<() => void> = [];
    const s = setUp(
      (iq) =>
        isPublish(iq)
          ? new Promise<Element>((resolve) => answers.push(() => resolve(xml('iq', { type: 'result' }))))
          : ok(),
      10,
    );
    s.publisher.kick();
    await sleep(20);
    const sent = () => s.requests.filter((r) => isPublish(r.iq)).length;
    expect(sent()).toBe(4); // the window
    answers[0]!();
    await sleep(10);
    expect(sent()).toBe(5); // one acknowledged, one more out: the pipeline does not wait for the whole window
    for (let i = 1; i < 10; i++) {
      answers[i]!();
      await sleep(5);
      expect(sent() - (i + 1)).toBeLessThanOrEqual(4);
    }
    await sleep(20);
    expect(sent()).toBe(10);
    expect(s.store.outboxDepth()).toBe(0);
  });

  it('reads the outbox a window ahead, not once per acknowledgement, and still sends what arrives meanwhile', async () => {
    let publishes = 0;
    const s = setUp((iq) => {
      // A reading stored while the outbox is being drained (the device keeps reading).
      if (isPublish(iq) && ++publishes === 10)
        s.store.add(
          {
            deviceId: 'host',
            timestamp: Date.UTC(2026, 0, 1, 0, 1, 0),
            fields: [{ name: 'n', type: 'int', value: 20, flags: ['momentary'], qos: ['automaticReadout'] }],
          },
          true,
        );
      return ok();
    }, 20);
    const outbox = s.store.outbox.bind(s.store);
    const reads: number[] = [];
    s.store.outbox = (limit, afterId) => {
      const rows = outbox(limit, afterId);
      reads.push(rows.length);
      return rows;
    };
    s.publisher.kick();
    await sleep(50);
    expect(s.store.outboxDepth()).toBe(0);
    const stamps = s.requests.filter((r) => isPublish(r.iq)).map((r) => itemTimestamp(r.iq));
    expect(stamps).toHaveLength(21);
    expect(stamps.at(-1)).toBe(new Date(Date.UTC(2026, 0, 1, 0, 1, 0)).toISOString());
    // 21 readings with a window of 4: six reads that found rows (one per window's worth), not one per publish.
    expect(reads.filter((n) => n > 0).length).toBeLessThanOrEqual(7);
  });

  it('does not spin when the transport says online but rejects every request as offline', async () => {
    const s = setUp((iq) => (isPublish(iq) ? Promise.reject(new XmppOfflineError('iq')) : ok()), 3);
    s.publisher.kick();
    await sleep(300);
    const publishes = s.requests.filter((r) => isPublish(r.iq)).length;
    // Retried through the timer queue (every 50 ms), not in a microtask loop that starves I/O.
    expect(publishes).toBeGreaterThan(0);
    expect(publishes).toBeLessThan(40);
    expect(s.store.outboxDepth()).toBe(3);
  });

  it('repairs a precondition-not-met once per session, then logs the failure once, probes with one publish, and keeps the readings', async () => {
    const s = setUp((iq) => (isPublish(iq) ? Promise.reject(preconditionNotMet(iq)) : ok()), 5);
    s.publisher.kick();
    await sleep(1500); // the repair at once, then retries after 0.5-1 s backoff
    expect(s.requests.filter((r) => isConfigureSet(r.iq))).toHaveLength(2); // first use + one repair
    expect(s.entries.filter((e) => e.msg === 'publishing failed; readings stay in the outbox')).toHaveLength(
      1,
    );
    expect(s.store.outboxDepth()).toBe(5);
    expect(s.publisher.stats().lastError).toMatch(/precondition-not-met/);
    // A window before and after the repair, then one probe per retry (not a window each time).
    const publishes = s.requests.filter((r) => isPublish(r.iq)).length;
    expect(publishes).toBeGreaterThanOrEqual(9);
    expect(publishes).toBeLessThanOrEqual(10);
  });
});
