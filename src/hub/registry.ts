/**
 * The XEP-0347 thing registry, server side (urn:xmpp:iot:discovery; iot-xeps.md §6.3): things register their
 * meta tags, an owner claims one by sending exactly the same tags (the claim code, KEY included), the registry
 * tells the thing who owns it, and anyone may search the claimed public things (never by KEY, never seeing it).
 * A wrong claim gets item-not-found without saying why, and each claimant has `claimAttemptsPerMinute` wrong
 * claims a minute: with a random KEY a claim code cannot be found by trying (security notes, §6.4).
 * The provisioning server (XEP-0324) is another role of the hub, wired next to this one by createHub.
 */
import { randomBytes } from 'node:crypto';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  KEY_TAG,
  matches,
  type MetaTag,
  NS_DISCOVERY,
  parseSearch,
  parseTags,
  tagElements,
  TagError,
  xsBoolean,
} from '../iot/discovery.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import { stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';
import type { HubStore } from './store.js';

export interface RegistryOptions {
  claimAttemptsPerMinute: number;
  /** How long to wait for a thing to acknowledge claimed/removed/disowned. */
  noticeTimeoutMs?: number;
  /** Most things one search returns. */
  maxSearchCount?: number;
}

/** Wrong claims per claimant in a sliding minute. */
export function createClaimThrottle(perMinute: number) {
  const failures = new Map<string, number[]>();
  const recent = (who: string, now: number) => (failures.get(who) ?? []).filter((t) => now - t < 60_000);
  return {
    blocked(who: string, now = Date.now()): boolean {
      return recent(who, now).length >= perMinute;
    },
    failed(who: string, now = Date.now()): void {
      if (failures.size >= 10_000)
        for (const k of failures.keys()) if (!recent(k, now).length) failures.delete(k);
      failures.set(who, [...recent(who, now), now]);
    },
  };
}

const randomKey = () => randomBytes(16).toString('base64url');

export function createRegistry(deps: {
  transport: Transport;
  store: HubStore;
  log: Logger;
  options: RegistryOptions;
}) {
  const { transport, store, log, options } = deps;
  const throttle = createClaimThrottle(options.claimAttemptsPerMinute);
  const noticeMs = options.noticeTimeoutMs ?? 5000;
  const maxCount = options.maxSearchCount ?? 100;
  const badRequest = (err: unknown) =>
    err instanceof TagError ? stanzaError('bad-request', err.message) : undefined;

  /** An IQ set to the thing; resolves whether it acknowledged. */
  const notify = async (address: string, payload: Element): Promise<boolean> => {
    try {
      await transport.request(xml('iq', { type: 'set', to: address }, payload), noticeMs);
      return true;
    } catch (err) {
      log.info(
        { thing: address, notice: payload.name, err: errorMessage(err) },
        'a thing did not acknowledge',
      );
      return false;
    }
  };

  const throttledError = () =>
    xml(
      'error',
      { type: 'wait' },
      xml('policy-violation', { xmlns: NS.stanzas }),
      xml('text', { xmlns: NS.stanzas }, 'too many claim attempts: wait a minute'),
    );

  const claimedEl = (jid: string, isPublic: boolean) =>
    xml('claimed', { xmlns: NS_DISCOVERY, jid, public: String(isPublic) });

  function register(stanza: Element, el: Element): Element | boolean {
    const from = stanza.attrs.from as string;
    const jid = bareOf(from);
    let tags: MetaTag[];
    try {
      tags = parseTags(el);
    } catch (err) {
      return badRequest(err) ?? stanzaError('bad-request');
    }
    const existing = store.getThing(jid);
    if (existing?.owner) {
      // Claimed: the tags stay as they are (§3.3); tell the thing its owner again.
      store.setAddress(jid, from);
      return claimedEl(existing.owner, existing.public);
    }
    store.register(jid, from, tags);
    if (xsBoolean(el.attrs.selfOwned, false)) {
      store.setOwner(jid, jid, true);
      log.info({ thing: jid }, 'a self-owned thing registered');
      return true;
    }
    log.info(
      { thing: jid, tags: tags.filter((t) => t.name !== KEY_TAG).map((t) => t.name) },
      'a thing registered',
    );
    return true;
  }

  /**
   * A claim by `claimant` with these tags: the thing's JID, `throttled`, or undefined (no match; the same answer
   * whether nothing matched or someone else owns it, §3.4). Also used by the hub's "Claim a thing" command.
   */
  async function claim(
    claimant: string,
    tags: MetaTag[],
    isPublic: boolean,
  ): Promise<string | 'throttled' | undefined> {
    if (throttle.blocked(claimant)) {
      log.warn({ claimant }, 'claim attempts throttled');
      return 'throttled';
    }
    const thing = store.findUnclaimed(tags);
    if (!thing || thing.jid === claimant) {
      throttle.failed(claimant);
      log.info({ claimant }, 'a claim matched no unclaimed thing');
      return undefined;
    }
    store.setOwner(thing.jid, claimant, isPublic);
    log.info({ thing: thing.jid, owner: claimant, public: isPublic }, 'a thing was claimed');
    // The thing learns its owner now if online, else from the answer to its next register.
    await notify(thing.address, claimedEl(claimant, isPublic));
    return thing.jid;
  }

  async function mine(stanza: Element, el: Element): Promise<Element | boolean> {
    const claimant = bareOf(stanza.attrs.from as string);
    if (throttle.blocked(claimant)) return throttledError();
    let tags: MetaTag[];
    try {
      tags = parseTags(el);
    } catch (err) {
      return badRequest(err) ?? stanzaError('bad-request');
    }
    // §3.4: `mine` defaults to public (while `claimed` defaults to private: we always send it).
    const jid = await claim(claimant, tags, xsBoolean(el.attrs.public, true));
    if (jid === 'throttled') return throttledError();
    if (!jid) return stanzaError('item-not-found');
    return xml('claimed', { xmlns: NS_DISCOVERY, jid });
  }

  function search(_stanza: Element, el: Element): Element {
    let request;
    try {
      request = parseSearch(el, maxCount);
    } catch (err) {
      return badRequest(err) ?? stanzaError('bad-request');
    }
    // A KEY in a search would let anyone test guesses: such a search finds nothing (§3.8).
    const found = request.conditions.some((c) => c.name === KEY_TAG)
      ? []
      : store.listPublic().filter((t) => request.conditions.every((c) => matches(c, t.tags)));
    const page = found.slice(request.offset, request.offset + request.maxCount);
    return xml(
      'found',
      { xmlns: NS_DISCOVERY, more: String(request.offset + page.length < found.length) },
      ...page.map((t) =>
        xml(
          'thing',
          { owner: t.owner as string, jid: t.jid },
          ...tagElements(t.tags.filter((tag) => tag.name !== KEY_TAG)),
        ),
      ),
    );
  }

  /** The owner's record of `jid`, or undefined when `from` does not own it (item-not-found either way). */
  const owned = (from: string, jid: unknown) => {
    if (typeof jid !== 'string') return undefined;
    const thing = store.getThing(bareOf(jid));
    return thing?.owner === bareOf(from) ? thing : undefined;
  };

  async function remove(stanza: Element, el: Element): Promise<Element | boolean> {
    const thing = owned(stanza.attrs.from as string, el.attrs.jid);
    if (!thing) return stanzaError('item-not-found');
    store.remove(thing.jid);
    log.info({ thing: thing.jid }, 'a thing was removed by its owner');
    await notify(thing.address, xml('removed', { xmlns: NS_DISCOVERY }));
    return true;
  }

  async function disown(stanza: Element, el: Element): Promise<Element | boolean> {
    const thing = owned(stanza.attrs.from as string, el.attrs.jid);
    if (!thing) return stanzaError('item-not-found');
    if (!(await notify(thing.address, xml('disowned', { xmlns: NS_DISCOVERY }))))
      return stanzaError('not-allowed', 'the thing did not acknowledge');
    // §3.10: the old tags (its claim code) must not claim it again: a random KEY until it registers anew.
    store.register(thing.jid, thing.address, [{ kind: 'str', name: KEY_TAG, value: randomKey() }]);
    store.setOwner(thing.jid, undefined, true);
    log.info({ thing: thing.jid }, 'a thing was disowned');
    return true;
  }

  function unregister(stanza: Element): boolean {
    const jid = bareOf(stanza.attrs.from as string);
    if (store.remove(jid)) log.info({ thing: jid }, 'a thing unregistered');
    return true;
  }

  /** Thing: `<update>tags</update>`; owner: `<update jid>`. Listed tags change, an empty str deletes one. */
  function update(stanza: Element, el: Element): Element | boolean {
    const from = stanza.attrs.from as string;
    const target = el.attrs.jid as string | undefined;
    const thing = target ? owned(from, target) : store.getThing(bareOf(from));
    if (!thing) return stanzaError('item-not-found');
    if (!target && !thing.owner && thing.tags.length === 1 && thing.tags[0]?.name === KEY_TAG)
      return xml('disowned', { xmlns: NS_DISCOVERY }); // disowned since: register again
    let changes: MetaTag[];
    try {
      changes = parseTags(el, { allowEmpty: true });
    } catch (err) {
      return badRequest(err) ?? stanzaError('bad-request');
    }
    const tags = new Map(thing.tags.map((t) => [t.name, t]));
    for (const c of changes) {
      if (c.kind === 'str' && c.value === '') tags.delete(c.name);
      else tags.set(c.name, c);
    }
    store.register(thing.jid, target ? thing.address : from, [...tags.values()]);
    return true;
  }

  return {
    claim,
    /** Registers the IQ handlers on the transport. */
    register() {
      transport.handleIq('set', NS_DISCOVERY, 'register', register);
      transport.handleIq('set', NS_DISCOVERY, 'mine', mine);
      transport.handleIq('get', NS_DISCOVERY, 'search', search);
      transport.handleIq('set', NS_DISCOVERY, 'update', update);
      transport.handleIq('set', NS_DISCOVERY, 'remove', remove);
      transport.handleIq('set', NS_DISCOVERY, 'unregister', unregister);
      transport.handleIq('set', NS_DISCOVERY, 'disown', disown);
    },
  };
}
