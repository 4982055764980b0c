/**
 * XEP-0347 thing side (urn:xmpp:iot:discovery; iot-xeps.md §6.3): an agent without owners registers with its
 * registry (MAN, MODEL, SN, a random KEY kept in the store, and the tags of its config) and shows its claim code;
 * whoever presents that code to the registry becomes its owner: the registry's `claimed` notice (or the answer
 * to a later register) names them, the owner is kept in the store and joins the access policy's owners.
 * `disowned` drops that owner and registers again. YAML owners are owners from the start: with any, the agent
 * does not register.
 * After a claim the KEY is rotated (here and, by `update`, at the registry); at each later login the tags that
 * changed in the config are sent by `update`. `removed` is acknowledged (the agent stays owned).
 * A registry that is a plain account (`registry: hub@example.org`, an account hub) is reached at the full JID
 * its presence shows: the agent subscribes to it (XEP-0347 §3.2: a registry that is a JID is befriended; the hub
 * approves, and its presence then reaches us at each of its logins and ours) and also asks once with a directed
 * presence (src/xmpp/peer-address.ts). A component registry (a domain) is addressed directly.
 * Still to come (issue 15): finding the registry by disco.
 */
import { randomBytes } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  formatClaimCode,
  KEY_TAG,
  type MetaTag,
  NS_DISCOVERY,
  tagElements,
  xsBoolean,
} from '../iot/discovery.js';
import type { ReadingStore } from '../store/store.js';
import { bareOf } from '../xmpp/jid.js';
import { findAccountAddress, isAccountJid, trackAccountAddress } from '../xmpp/peer-address.js';
import { stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';

export interface RegistrySettings {
  jid: string;
  tags: Record<string, string | number>;
}

const META = {
  key: 'registry.key',
  serial: 'registry.sn',
  owner: 'registry.owner',
  /** The tags (KEY left out) the registry last accepted from us, to send only what changed. */
  tags: 'registry.tags',
} as const;

/**
 * An online account hub answers a directed presence within a round trip; silence means it is offline, and its
 * presence (we are subscribed) says when it is back, so there is no point in waiting long.
 */
const ACCOUNT_ANSWER_MS = 3000;

type MetaStore = Pick<ReadingStore, 'getMeta' | 'setMeta'>;

const random = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * The tags this agent registers with; KEY (and SN, unless configured) are made once and kept in the store. No
 * version tag: the claim code printed on a label must survive upgrades.
 */
export function registrationTags(store: MetaStore, settings: RegistrySettings): MetaTag[] {
  let key = store.getMeta(META.key);
  if (!key) {
    key = random(12);
    store.setMeta(META.key, key);
  }
  let serial = store.getMeta(META.serial);
  if (!serial) {
    serial = random(6);
    store.setMeta(META.serial, serial);
  }
  const tags = new Map<string, MetaTag>([
    ['MAN', { kind: 'str', name: 'MAN', value: 'xmpp-iot.org' }],
    ['MODEL', { kind: 'str', name: 'MODEL', value: 'xiot-agent' }],
    ['SN', { kind: 'str', name: 'SN', value: serial }],
  ]);
  for (const [name, value] of Object.entries(settings.tags))
    tags.set(name, { kind: typeof value === 'number' ? 'num' : 'str', name, value });
  tags.set(KEY_TAG, { kind: 'str', name: KEY_TAG, value: key });
  return [...tags.values()];
}

/** The claim code of this agent: the spec's text and the `iotdisco:` URI (which names the registry). */
export function claimCodeOf(store: MetaStore, settings: RegistrySettings): { text: string; uri: string } {
  return formatClaimCode({ tags: registrationTags(store, settings), registry: settings.jid });
}

/** The owner a registry gave us, kept across restarts. */
export const claimedOwner = (store: MetaStore): string | undefined => store.getMeta(META.owner) || undefined;

export function createRegistryClient(deps: {
  transport: Transport;
  store: ReadingStore;
  settings: RegistrySettings;
  log: Logger;
  /** Owners from YAML or an earlier claim: then there is nothing to register for. */
  hasOwners(): boolean;
  onClaimed(owner: string): void;
  onDisowned(owner: string): void;
  /** Registered unclaimed: the claim code to show (the CLI draws its QR code on a terminal). */
  onRegistered?(code: { text: string; uri: string }): void;
  /** Backoff between register attempts while the registry does not answer (default 5 s to 5 min). */
  retry?: { minMs: number; maxMs: number };
}) {
  const { transport, store, settings, log } = deps;
  const registry = settings.jid.toLowerCase();
  const account = isAccountJid(registry);
  // An account registry: its current full JID; a new one (its login) is a reason to try registering at once.
  const tracker = account
    ? trackAccountAddress(transport, registry, () => setImmediate(() => void registerIfUnowned()))
    : undefined;
  /** Where the registry's IQs go: the component's domain, or the account's full JID (asked for if unknown). */
  const registryAddress = async (): Promise<string> =>
    tracker
      ? (tracker.address ?? (await findAccountAddress(transport, registry, ACCOUNT_ANSWER_MS)))
      : registry;
  const ask = async (payload: Element): Promise<Element> =>
    transport.request(xml('iq', { type: 'set', to: await registryAddress() }, payload));
  const fromRegistry = (from: string | undefined) => {
    try {
      return from !== undefined && bareOf(from) === registry;
    } catch {
      return false;
    }
  };

  const claimed = (owner: string, isPublic: boolean) => {
    const bare = bareOf(owner);
    store.setMeta(META.owner, bare);
    log.info({ owner: bare, public: isPublic }, 'claimed through the registry');
    deps.onClaimed(bare);
    // §6.4: a new KEY, also in the registry's record, so the printed code is worth nothing once used (a reset
    // and a re-claim by whoever saw it must fail).
    store.setMeta(META.key, random(12));
    const key = registrationTags(store, settings).filter((t) => t.name === KEY_TAG);
    setImmediate(() => {
      ask(xml('update', { xmlns: NS_DISCOVERY }, ...tagElements(key))).catch((err) =>
        log.warn({ registry, err: errorMessage(err) }, 'could not rotate the KEY at the registry'),
      );
    });
  };

  const publicTags = () => registrationTags(store, settings).filter((t) => t.name !== KEY_TAG);
  const remember = (tags: MetaTag[]) => store.setMeta(META.tags, JSON.stringify(tags));

  /** Owned: the tags of the config may have changed since; send those that did (an empty str deletes one). */
  async function updateIfChanged(): Promise<void> {
    const before = JSON.parse(store.getMeta(META.tags) ?? '[]') as MetaTag[];
    const now = publicTags();
    const same = (a: MetaTag, b: MetaTag) => a.name === b.name && a.kind === b.kind && a.value === b.value;
    const changed = now.filter((t) => !before.some((b) => same(b, t)));
    const removed: MetaTag[] = before
      .filter((b) => !now.some((t) => t.name === b.name))
      .map((b) => ({ kind: 'str', name: b.name, value: '' }));
    if (!changed.length && !removed.length) return;
    try {
      const answer = await ask(
        xml('update', { xmlns: NS_DISCOVERY }, ...tagElements([...changed, ...removed])),
      );
      if (answer.getChild('disowned', NS_DISCOVERY)) {
        disowned();
        return;
      }
      remember(now);
      log.info(
        { registry, changed: [...changed, ...removed].map((t) => t.name) },
        'updated the tags at the registry',
      );
    } catch (err) {
      if ((err as { condition?: string }).condition === 'item-not-found') {
        // §3.7: the owner removed us from the registry; there is nothing to update.
        remember(now);
        log.info({ registry }, 'not listed in the registry (removed by the owner): tags not updated');
      } else log.warn({ registry, err: errorMessage(err) }, 'could not update the tags at the registry');
    }
  }

  /** The registry says nobody owns us any more: drop the owner, new KEY, register again. */
  function disowned(): void {
    const owner = claimedOwner(store);
    store.setMeta(META.owner, '');
    // A new KEY: the old claim code (printed, photographed) must not claim this agent again (§6.4).
    store.setMeta(META.key, random(12));
    if (owner) {
      log.info({ owner }, 'disowned through the registry');
      deps.onDisowned(owner);
    }
    // Register again once the registry has our answer (it wipes our record on it).
    setTimeout(() => void registerIfUnowned(), 200).unref();
  }

  async function register(): Promise<void> {
    const tags = registrationTags(store, settings);
    const answer = await ask(xml('register', { xmlns: NS_DISCOVERY }, ...tagElements(tags)));
    const owner = answer.getChild('claimed', NS_DISCOVERY);
    if (owner?.attrs.jid) {
      claimed(owner.attrs.jid as string, xsBoolean(owner.attrs.public, false));
      return;
    }
    remember(publicTags());
    const code = claimCodeOf(store, settings);
    log.info({ registry, claimCode: code.text, uri: code.uri }, `registered; claim code: ${code.text}`);
    deps.onRegistered?.(code);
  }

  transport.handleIq('set', NS_DISCOVERY, 'claimed', (stanza: Element, el: Element) => {
    if (!fromRegistry(stanza.attrs.from as string)) return stanzaError('forbidden', 'not my registry');
    const owner = el.attrs.jid as string | undefined;
    if (!owner) return stanzaError('bad-request', 'claimed needs jid');
    claimed(owner, xsBoolean(el.attrs.public, false));
    return true;
  });
  // The owner took us out of the registry: we stay owned, and there is nothing to register or update.
  transport.handleIq('set', NS_DISCOVERY, 'removed', (stanza: Element) => {
    if (!fromRegistry(stanza.attrs.from as string)) return stanzaError('forbidden', 'not my registry');
    log.info({ registry }, 'removed from the registry by the owner');
    return true;
  });
  transport.handleIq('set', NS_DISCOVERY, 'disowned', (stanza: Element) => {
    if (!fromRegistry(stanza.attrs.from as string)) return stanzaError('forbidden', 'not my registry');
    disowned();
    return true;
  });

  // The registry may be down or not yet started: retry with backoff while online and unowned, logging the
  // first failure and the recovery, not every retry.
  const backoff = deps.retry ?? { minMs: 5000, maxMs: 300_000 };
  let retryMs = backoff.minMs;
  let retry: NodeJS.Timeout | undefined;
  let failing = false;
  // One attempt at a time: the login and an account registry's presence may both ask for one.
  let registering: Promise<void> | undefined;
  function registerIfUnowned(): Promise<void> {
    return (registering ??= attemptRegister().finally(() => {
      registering = undefined;
    }));
  }
  async function attemptRegister(): Promise<void> {
    clearTimeout(retry);
    retry = undefined;
    if (deps.hasOwners() || !transport.online) return;
    try {
      await register();
      if (failing) log.info({ registry }, 'the registry answers again');
      failing = false;
      retryMs = backoff.minMs;
    } catch (err) {
      if (!failing)
        log.warn({ registry, err: errorMessage(err), retryMs }, 'could not register with the registry');
      failing = true;
      retry = setTimeout(() => void registerIfUnowned(), retryMs);
      retry.unref();
      retryMs = Math.min(backoff.maxMs, retryMs * 2);
    }
  }

  return {
    /** At each login: register while nobody owns us; once claimed here, send the tags that changed. */
    async online() {
      // Only `subscribe`: the registry needs no presence of ours (its notices go to the JID we register from).
      if (account) await transport.send(xml('presence', { type: 'subscribe', to: registry }));
      if (claimedOwner(store)) await updateIfChanged();
      await registerIfUnowned();
    },
    claimCode: () => claimCodeOf(store, settings),
    stop() {
      clearTimeout(retry);
      retry = undefined;
      tracker?.stop();
    },
  };
}
