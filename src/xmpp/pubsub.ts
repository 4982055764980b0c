/**
 * Publishing readings over XEP-0060 / XEP-0163 from the store's outbox, in order, without loss:
 * an outbox entry is acknowledged (deleted) only when the service answered the publish with a result.
 * Publishes are pipelined (a window of in-flight IQs): one XMPP stream is processed in order by the server,
 * so order holds, and a loaded link is not bound by one round trip per reading.
 * On PEP (default) the node is `urn:xmpp:iot:sensordata` on our own account, item id = device id, and
 * publish-options make it self-create with access model `presence`. On a pubsub service there is one node for
 * this agent; it is created when missing (Prosody 0.12 lets only admins create there) with a whitelist of owners.
 * https://xmpp.org/extensions/xep-0060.html §7.1, §7.1.5 (publish-options), §8.1 (create)
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { backoffDelay } from '../core/duration.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Reading } from '../model/fields.js';
import type { ReadingStore } from '../store/store.js';
import { NS } from './ns.js';
import { readingPayload } from './sensordata.js';
import { type Transport, XmppStanzaError } from './transport.js';

export interface PublishTarget {
  /** 'pep' or the JID of a pubsub service. */
  service: string;
  node: string;
  accessModel: string;
}

function form(type: string, formType: string, fields: Record<string, string>): Element {
  return xml(
    'x',
    { xmlns: NS.dataForms, type },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)),
    ...Object.entries(fields).map(([v, value]) => xml('field', { var: v }, xml('value', {}, value))),
  );
}

export function nodeConfig(target: PublishTarget): Record<string, string> {
  return {
    'pubsub#access_model': target.accessModel,
    // Item id = device id, the latest reading of each device is kept; 'max' lets the node hold every device.
    'pubsub#max_items': 'max',
    'pubsub#persist_items': 'true',
  };
}

export function publishElement(target: PublishTarget, reading: Reading): Element {
  const to = target.service === 'pep' ? {} : { to: target.service };
  return xml(
    'iq',
    { type: 'set', ...to },
    xml(
      'pubsub',
      { xmlns: NS.pubsub },
      xml('publish', { node: target.node }, xml('item', { id: reading.deviceId }, readingPayload(reading))),
      xml('publish-options', {}, form('submit', NS.publishOptions, nodeConfig(target))),
    ),
  );
}

/**
 * `promise`, or a rejection with the signal's reason once it aborts. Not `Promise.race([promise, pending])`
 * against one long-lived pending promise: every race adds a reaction to that promise, which holds the settled
 * race and with it the publish's reply until the session ends (issue 13: ~1.5 kB per reading, for as long as
 * the agent stays online). The abort listener here goes as soon as `promise` settles.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createPublisher(deps: {
  transport: Transport;
  store: ReadingStore;
  target: PublishTarget;
  owners: readonly string[];
  log: Logger;
  window?: number;
}) {
  const { transport, store, target, log } = deps;
  const window = deps.window ?? 32;
  const to = target.service === 'pep' ? {} : { to: target.service };
  let running = false;
  let stopped = false;
  let again = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  // Aborted when the session this signal belongs to goes offline (or the publisher stops).
  let offline = new AbortController();
  let published = 0;
  let lastError: string | undefined;

  /** An IQ set to the service with one <pubsub/> (ns: pubsub or pubsub#owner) holding `children`. */
  const pubsubSet = (ns: string, ...children: Element[]) =>
    transport.request(xml('iq', { type: 'set', ...to }, xml('pubsub', { xmlns: ns }, ...children)));
  const configForm = () => form('submit', NS.nodeConfig, nodeConfig(target));

  async function configureNode(): Promise<void> {
    await pubsubSet(NS.pubsubOwner, xml('configure', { node: target.node }, configForm()));
  }

  async function createNode(): Promise<void> {
    await pubsubSet(NS.pubsub, xml('create', { node: target.node }), xml('configure', {}, configForm()));
    if (deps.owners.length) {
      await pubsubSet(
        NS.pubsubOwner,
        xml(
          'affiliations',
          { node: target.node },
          ...deps.owners.map((jid) => xml('affiliation', { jid, affiliation: 'member' })),
        ),
      );
    }
    log.info({ service: target.service, node: target.node }, 'created the pubsub node');
  }

  /** Repairs what can be repaired; true when the publish should simply be retried. */
  async function recover(err: unknown): Promise<boolean> {
    if (!(err instanceof XmppStanzaError)) return false;
    const detail = err.stanza.getChildElements().map((c) => c.name);
    if (err.condition === 'conflict' && detail.includes('precondition-not-met')) {
      log.info({ node: target.node }, 'node configuration differs from ours; reconfiguring it');
      await configureNode();
      return true;
    }
    if (err.condition === 'item-not-found' && target.service !== 'pep') {
      await createNode();
      return true;
    }
    return false;
  }

  async function drain(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    const { signal } = offline;
    try {
      do {
        again = false;
        while (!stopped && transport.online) {
          const batch = store.outbox(window);
          if (batch.length === 0) break;
          const requests = batch.map((r) => transport.request(publishElement(target, r)));
          for (const p of requests) p.catch(() => undefined);
          // Acknowledged in order; the outbox rows go in one transaction per window (one fsync, not one each).
          const acked: number[] = [];
          try {
            for (const [i, reading] of batch.entries()) {
              await unlessAborted(requests[i] as Promise<Element>, signal);
              acked.push(reading.id);
            }
          } finally {
            if (acked.length && !stopped) store.acknowledgeMany(acked);
            published += acked.length;
          }
          failures = 0;
          lastError = undefined;
        }
      } while (again && !stopped && transport.online);
    } catch (err) {
      if (stopped || !transport.online) return;
      lastError = errorMessage(err);
      const repaired = await recover(err).catch((e) => {
        lastError = errorMessage(e);
        return false;
      });
      if (!repaired) {
        if (failures === 0)
          log.error({ err: lastError, node: target.node }, 'publishing failed; readings stay in the outbox');
        failures++;
      }
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => void drain(), repaired ? 0 : backoffDelay(failures - 1, 1000, 60_000));
    } finally {
      running = false;
    }
  }

  const onOnline = () => {
    offline = new AbortController();
    void drain();
  };
  const onOffline = () => offline.abort(new Error('offline'));
  transport.on('online', onOnline);
  transport.on('offline', onOffline);

  return {
    /** New readings are in the outbox. */
    kick: () => {
      if (transport.online) void drain();
    },
    stats: () => ({ published, outbox: store.outboxDepth(), lastError }),
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      offline.abort(new Error('stopped'));
      transport.off('online', onOnline);
      transport.off('offline', onOffline);
    },
  };
}
