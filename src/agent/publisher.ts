/**
 * Publishing readings over XEP-0060 / XEP-0163 from the store's outbox, in order, without loss:
 * an outbox entry is acknowledged (deleted) only when the service answered the publish with a result.
 * Publishes are pipelined (a window of in-flight IQs): one XMPP stream is processed in order by the server,
 * so order holds, and a loaded link is not bound by one round trip per reading.
 * On PEP (default) the node is `urn:xmpp:iot:sensordata` on our own account, item id = device id. On a pubsub
 * service there is one node for this agent, whitelisted to its owners.
 * The node is configured when first used in a session, by owner requests, and the configuration is read back:
 * publish-options carry only what both Prosody and ejabberd accept there (ejabberd 23.01 answers anything else
 * with resource-constraint "Unknown field … publish-options"), and ejabberd's PEP nodes keep 1 item by default.
 * https://xmpp.org/extensions/xep-0060.html §7.1.5 (publish-options), §8.1 (create), §8.2 (configure),
 * §8.9 (affiliations)
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { backoffDelay } from '../core/duration.js';
import { errorMessage, XmppOfflineError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Reading } from '../model/fields.js';
import type { ReadingStore, StoredReading } from '../store/store.js';
import { NS } from '../xmpp/ns.js';
import { readingPayload } from '../iot/sensordata.js';
import { conditionOf } from '../xmpp/stanza-errors.js';
import { type Transport, XmppStanzaError } from '../xmpp/transport.js';

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

/** The publish-options both servers accept (ejabberd: exactly these two); they make a PEP node self-create right. */
export function publishOptions(target: PublishTarget): Record<string, string> {
  return { 'pubsub#access_model': target.accessModel, 'pubsub#persist_items': 'true' };
}

/** The node configuration we apply with owner requests. */
export function nodeConfig(target: PublishTarget): Record<string, string> {
  return {
    ...publishOptions(target),
    // Item id = device id, so the latest reading of each device is kept; 'max' lets the node hold every device
    // (ejabberd's PEP default is 1: only the last device that published would be readable).
    'pubsub#max_items': 'max',
  };
}

export function publishElement(target: PublishTarget, reading: Reading, withOptions = true): Element {
  const to = target.service === 'pep' ? {} : { to: target.service };
  return xml(
    'iq',
    { type: 'set', ...to },
    xml(
      'pubsub',
      { xmlns: NS.pubsub },
      xml('publish', { node: target.node }, xml('item', { id: reading.deviceId }, readingPayload(reading))),
      ...(withOptions
        ? [xml('publish-options', {}, form('submit', NS.publishOptions, publishOptions(target)))]
        : []),
    ),
  );
}

/** Field values of a data form (the first value of each field). */
export function formFields(x: Element | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of x?.getChildren('field') ?? []) {
    const v = f.attrs.var as string | undefined;
    if (v) out[v] = f.getChildText('value') ?? '';
  }
  return out;
}

/**
 * What is wrong with a node configuration read back from the service for `devices` devices (empty: nothing).
 * `max_items` may come back as 'max' (Prosody) or as the number the server made of it (ejabberd).
 */
export function configProblems(
  target: PublishTarget,
  fields: Record<string, string>,
  devices: number,
): string[] {
  const problems: string[] = [];
  const access = fields['pubsub#access_model'];
  if (access !== undefined && access !== target.accessModel)
    problems.push(`access model is ${access}, not ${target.accessModel}`);
  const max = fields['pubsub#max_items'];
  if (max !== undefined && max !== 'max' && !(Number(max) >= devices))
    problems.push(`max_items is ${max || '(empty)'}, fewer than the ${devices} devices`);
  const persist = fields['pubsub#persist_items'];
  if (persist === 'false' || persist === '0') problems.push('items are not persisted');
  return problems;
}

/** The `<error/>` of an error reply (the transport hands over the whole `<iq/>`). */
const errorOf = (err: XmppStanzaError): Element | undefined =>
  err.stanza.is('error') ? err.stanza : err.stanza.getChild('error');

/** The error reply's application-specific condition (XEP-0060 §7.1.3: `precondition-not-met`, …). */
function detail(err: XmppStanzaError): string | undefined {
  return errorOf(err)
    ?.getChildElements()
    .find((c) => c.attrs.xmlns === NS.pubsubErrors)?.name;
}

/** The defined condition of an error reply, wherever the server put it (ejabberd: after its pubsub condition). */
function condition(err: XmppStanzaError): string {
  return conditionOf(errorOf(err)) ?? err.condition;
}

/** How a publish error is repaired before the publish is sent again, or undefined when it cannot be. */
export type Repair = 'reconfigure' | 'without-options' | 'prepare';

/**
 * The publish errors of Prosody 0.12 and ejabberd 23.01 that a repair fixes:
 * - publish-options that do not match the node: Prosody `conflict` + precondition-not-met (XEP-0060 §7.1.5),
 *   ejabberd the same or `not-acceptable`/`not-allowed` + precondition-not-met: configure the node, publish again;
 * - publish-options the server does not understand: ejabberd `resource-constraint` "Unknown field … of type
 *   publish-options", others `bad-request`/`not-acceptable` naming publish-options: the node is configured by
 *   owner requests, so publish without them;
 * - the node is gone (deleted by an admin or the hub): create and configure it again.
 */
export function repairFor(err: unknown, target: PublishTarget): Repair | undefined {
  if (!(err instanceof XmppStanzaError)) return undefined;
  if (detail(err) === 'precondition-not-met') return 'reconfigure';
  if (/publish[-_]options/i.test(err.message) || detail(err) === 'unsupported') {
    if (
      ['resource-constraint', 'bad-request', 'not-acceptable', 'feature-not-implemented'].includes(
        err.condition,
      )
    )
      return 'without-options';
  }
  if (condition(err) === 'item-not-found' && target.service !== 'pep') return 'prepare';
  return undefined;
}

/** Configure requests the service may refuse when the node is not ours (a hub-owned node we only publish to). */
const NOT_OURS = new Set(['forbidden', 'not-authorized', 'not-allowed', 'feature-not-implemented']);

export function createPublisher(deps: {
  transport: Transport;
  store: ReadingStore;
  target: PublishTarget;
  owners: readonly string[];
  /** How many devices publish: the node must keep at least this many items. */
  devices?: number;
  log: Logger;
  window?: number;
  /**
   * After each login, publish nothing until `release()` (the agent first announces itself and hears its owners:
   * PEP notifies only contacts the server knows to be online, and a backlog sent before would reach nobody).
   */
  holdAfterLogin?: boolean;
}) {
  const { transport, store, target, log } = deps;
  const window = deps.window ?? 32;
  const to = target.service === 'pep' ? {} : { to: target.service };
  let running = false;
  let stopped = false;
  let again = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let published = 0;
  let lastError: string | undefined;
  /** The node was configured (or found not ours to configure) in this session. */
  let prepared = false;
  /** The node could not be created before publishing; configure it once a publish has created it. */
  let configureAfterPublish = false;
  /** Repairs tried in this session: each at most once, so a repair that does not help cannot loop. */
  const repaired = new Set<Repair>();
  let withOptions = true;

  /**
   * An IQ to the service with one <pubsub/> (ns: pubsub or pubsub#owner) holding `children`. No timer (0): a
   * slow answer is waited for while the stream is up (a publish given up on and sent again would be delivered
   * twice); when the stream goes, the transport rejects it with XmppOfflineError.
   */
  const request = (iq: Element) => transport.request(iq, 0);
  const pubsubIq = (type: 'get' | 'set', ns: string, ...children: Element[]) =>
    request(xml('iq', { type, ...to }, xml('pubsub', { xmlns: ns }, ...children)));
  const configForm = () => form('submit', NS.nodeConfig, nodeConfig(target));

  /** Creates the node with our configuration (XEP-0060 §8.1.3). */
  async function createNode(): Promise<void> {
    await pubsubIq(
      'set',
      NS.pubsub,
      xml('create', { node: target.node }),
      xml('configure', {}, configForm()),
    );
    log.info({ service: target.service, node: target.node }, 'created the pubsub node');
  }

  /**
   * Owners are the node's members (whitelist), and nobody else is: a member no longer among the owners loses its
   * affiliation. Needed also when the server created the node on a first publish (ejabberd), where we are the
   * sole affiliate.
   */
  async function applyMembers(): Promise<void> {
    const result = await pubsubIq('get', NS.pubsubOwner, xml('affiliations', { node: target.node }));
    const current = new Map<string, string>();
    for (const a of result.getChild('pubsub')?.getChild('affiliations')?.getChildren('affiliation') ?? [])
      current.set(String(a.attrs.jid).toLowerCase(), a.attrs.affiliation as string);
    const changes = [
      ...deps.owners
        .filter((jid) => !['member', 'owner', 'publisher'].includes(current.get(jid) ?? ''))
        .map((jid) => ({ jid, affiliation: 'member' })),
      ...[...current]
        .filter(([jid, aff]) => aff === 'member' && !deps.owners.includes(jid))
        .map(([jid]) => ({ jid, affiliation: 'none' })),
    ];
    if (changes.length === 0) return;
    await pubsubIq(
      'set',
      NS.pubsubOwner,
      xml('affiliations', { node: target.node }, ...changes.map((c) => xml('affiliation', c))),
    );
    log.info({ node: target.node, changes }, 'updated the members of the pubsub node');
  }

  /** Reads the configuration back; a node that does not keep one item per device is an error worth a log line. */
  async function checkConfig(): Promise<void> {
    const result = await pubsubIq('get', NS.pubsubOwner, xml('configure', { node: target.node }));
    const x = result.getChild('pubsub')?.getChild('configure')?.getChild('x', NS.dataForms);
    const problems = configProblems(target, formFields(x), deps.devices ?? 1);
    if (problems.length)
      log.warn(
        { node: target.node, problems },
        'the pubsub node does not have the configuration we asked for',
      );
  }

  /** A step the service refused: logged, and publishing goes on with the node as it is. */
  async function refusable(what: string, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      if (!(err instanceof XmppStanzaError)) throw err;
      const reason = NOT_OURS.has(condition(err)) ? ' (we are not its owner)' : '';
      log.warn({ node: target.node, err: errorMessage(err) }, `the service refused to ${what}${reason}`);
      return false;
    }
  }

  /**
   * Configures the node (creating it when missing), its members on a service, and reads the configuration back.
   * False when the node could not be created here: the first publish may create it (PEP; ejabberd's service),
   * and it is configured after that publish.
   */
  async function prepareNode(): Promise<boolean> {
    let missing = false;
    const configured = await refusable('configure the pubsub node', async () => {
      try {
        await pubsubIq('set', NS.pubsubOwner, xml('configure', { node: target.node }, configForm()));
      } catch (err) {
        if (!(err instanceof XmppStanzaError) || condition(err) !== 'item-not-found') throw err;
        missing = true;
      }
    });
    if (missing && !(await refusable('create the pubsub node', createNode))) return false;
    if (!configured) return true;
    if (target.service !== 'pep') await refusable('set the members of the pubsub node', applyMembers);
    await refusable('show the configuration of the pubsub node', checkConfig);
    return true;
  }

  function repair(kind: Repair): void {
    repaired.add(kind);
    if (kind === 'without-options') {
      withOptions = false;
      log.warn({ node: target.node }, 'the service refuses our publish-options; publishing without them');
    } else {
      if (kind === 'reconfigure') log.info({ node: target.node }, 'node configuration differs from ours');
      prepared = false;
    }
  }

  async function drain(): Promise<void> {
    if (held) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    let rerun = false;
    try {
      do {
        again = false;
        while (!stopped && transport.online) {
          if (!prepared) {
            if (store.outbox(1).length === 0) break;
            configureAfterPublish = !(await prepareNode());
            prepared = true;
          }
          // A sliding window: up to `window` publishes in flight at all times, so the server's pipeline does not
          // run dry while we wait for a batch's last acknowledgement or fsync the outbox.
          const inflight: { id: number; reply: Promise<Element> }[] = [];
          const acked: number[] = [];
          let lastSent: number | undefined;
          // Outbox rows read ahead of the window: one query per window's worth of publishes, not one per
          // acknowledgement (a tenth of the agent's CPU per publish on ejabberd). Dropped with the window on an
          // error: the next round reads from the outbox's head again.
          let ahead: StoredReading[] = [];
          let next = 0;
          const nextRow = (): StoredReading | undefined => {
            if (next === ahead.length) {
              ahead = store.outbox(window, ahead.at(-1)?.id ?? lastSent);
              next = 0;
            }
            return ahead[next++];
          };
          const commit = () => {
            if (acked.length && !stopped) store.acknowledgeMany(acked);
            acked.length = 0;
          };
          try {
            for (;;) {
              // While publishing fails, one publish probes per retry: a window re-sent to a service that refuses
              // it would fill a shaped link (ejabberd: 3000 B/s) and delay everything else we send, readouts
              // included. Likewise one publish only when it is to create the node (configured right after).
              const limit = failures > 0 || configureAfterPublish ? 1 : window;
              if (!stopped && !(configureAfterPublish && lastSent !== undefined)) {
                while (inflight.length < limit) {
                  const r = nextRow();
                  if (!r) break;
                  const reply = request(publishElement(target, r, withOptions));
                  reply.catch(() => undefined);
                  inflight.push({ id: r.id, reply });
                  lastSent = r.id;
                }
              }
              const head = inflight.shift();
              if (!head) break;
              await head.reply;
              acked.push(head.id);
              published++; // acknowledged by the service (the outbox row goes with the next commit)
              if (failures > 0) log.info({ node: target.node, published }, 'publishing again');
              failures = 0;
              lastError = undefined;
              // Acknowledged in order, one transaction (one fsync, which blocks this thread) per window's worth
              // of acknowledgements, not per reading; the window stays full meanwhile, so the server keeps busy.
              if (acked.length >= window || inflight.length === 0) commit();
            }
          } finally {
            commit();
          }
          if (lastSent === undefined) break;
          if (configureAfterPublish) prepared = false; // the publish created the node: configure it now
        }
      } while (again && !stopped && transport.online);
    } catch (err) {
      if (stopped) return;
      if (err instanceof XmppOfflineError || !transport.online) {
        // The session ended under us; what was not acknowledged goes out again, in order, once online (when
        // that already happened while we were waiting, now).
        rerun = transport.online;
        return;
      }
      lastError = errorMessage(err);
      const kind = repairFor(err, target);
      const repairing = kind !== undefined && !repaired.has(kind);
      if (repairing) {
        repair(kind);
      } else {
        // Logged once per outage, not per reading or retry (SD cards); the status carries the last error.
        if (failures === 0)
          log.error({ err: lastError, node: target.node }, 'publishing failed; readings stay in the outbox');
        failures++;
      }
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => void drain(), repairing ? 0 : backoffDelay(failures - 1, 1000, 60_000));
    } finally {
      running = false;
      // Through the timer queue, not at once: a transport that still says online while rejecting every
      // request as offline (a session ending under us) would otherwise spin here without ever yielding to I/O.
      if (rerun) {
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => void drain(), 50);
      }
    }
  }

  let held = false;
  const onOnline = () => {
    prepared = false;
    repaired.clear();
    held = deps.holdAfterLogin === true;
    if (!held) void drain();
  };
  transport.on('online', onOnline);

  return {
    /** New readings are in the outbox. */
    kick: () => {
      if (transport.online) void drain();
    },
    /** The agent has announced itself after a login: the backlog may go out (see `holdAfterLogin`). */
    release: () => {
      held = false;
      if (transport.online) void drain();
    },
    stats: () => ({ published, outbox: store.outboxDepth(), lastError }),
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      transport.off('online', onOnline);
    },
  };
}
