/**
 * Friendship (RFC 6121 presence subscriptions). Owners are friends both ways: their subscription requests are
 * approved (and pre-approved at login where the server offers pre-approval, so it works while we are offline;
 * elsewhere the server keeps their request and hands it to us at our next login), and we subscribe to them.
 * Everyone else is refused, and a non-owner left on the roster from an earlier config loses its subscription:
 * with PEP's `presence` access model, a subscription is read access to the readings.
 * The provisioning issue adds XEP-0324 `isFriend` here for strangers.
 * At login the roster is read first, and only what it lacks is asked for (an owner's client shows every
 * repeated request); roster pushes keep that picture current and are answered with a result (RFC 6121 §2.1.6).
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { bareOf } from '../xmpp/jid.js';
import { type AccessPolicy } from './access.js';
import { stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';

const NS_ROSTER = 'jabber:iq:roster';

/** One roster item as far as friendship is concerned (RFC 6121 §2.1.2). */
export interface RosterItem {
  subscription: 'none' | 'to' | 'from' | 'both' | 'remove';
  /** We asked for a subscription that is still pending. */
  ask: boolean;
  /** The contact is pre-approved (RFC 6121 §3.4). */
  approved: boolean;
}

export function parseRosterItem(item: Element): [string, RosterItem] {
  const sub = item.attrs.subscription as string | undefined;
  return [
    String(item.attrs.jid).toLowerCase(),
    {
      subscription: (['none', 'to', 'from', 'both', 'remove'] as const).find((s) => s === sub) ?? 'none',
      ask: item.attrs.ask === 'subscribe',
      approved: item.attrs.approved === 'true',
    },
  ];
}

/**
 * The presences that make an owner a friend both ways, given what the roster says (undefined: not on it).
 * `subscribed` pre-approves their subscription to us, only where the server offers pre-approval (RFC 6121 §3.4:
 * a client MUST NOT otherwise); `subscribe` asks for ours to them.
 */
export function ownerRequests(
  item: RosterItem | undefined,
  preApproval: boolean,
): ('subscribed' | 'subscribe')[] {
  const sub = item?.subscription ?? 'none';
  const out: ('subscribed' | 'subscribe')[] = [];
  if (preApproval && sub !== 'from' && sub !== 'both' && !item?.approved) out.push('subscribed');
  if (sub !== 'to' && sub !== 'both' && !item?.ask) out.push('subscribe');
  return out;
}

export function createRosterPolicy(deps: { transport: Transport; access: AccessPolicy; log: Logger }) {
  const { transport, access, log } = deps;
  const presence = (type: string, to: string) => transport.send(xml('presence', { type, to }));
  /** Approves their request (`asked`) or pre-approves one to come (where the server allows), and asks ours. */
  const befriend = async (jid: string, asked: boolean) => {
    if (asked || transport.preApproval) await presence('subscribed', jid);
    await presence('subscribe', jid);
    // ejabberd learns a contact's caps, and with them whether to send it our PEP readings (+notify), only from
    // a presence of theirs that reaches us while they are subscribed to us. A client that approved our request
    // earlier sent its presence then, and sends none when we approve theirs, so an owner on Conversations or
    // Profanity got no readings until it next changed presence. A probe makes their server send it again.
    // (RFC 6121 §4.3: a client SHOULD NOT probe; this is one probe per new friendship, when we hear them.)
    const item = roster?.get(jid);
    if (asked && (!roster || item?.subscription === 'to' || item?.subscription === 'both'))
      await presence('probe', jid);
  };

  async function onPresence(stanza: Element): Promise<void> {
    if (!stanza.is('presence')) return;
    const type = stanza.attrs.type as string | undefined;
    const from = stanza.attrs.from as string | undefined;
    if (!from || (type !== 'subscribe' && type !== 'unsubscribe')) return;
    const bare = bareOf(from);
    if (type === 'subscribe') {
      // Owners and provisioning servers are friends; anyone else only if provisioning says so (isFriend).
      if (await access.isFriend(bare)) {
        await befriend(bare, true);
        log.info({ jid: bare, owner: access.isOwner(bare) }, 'accepted a presence subscription');
      } else {
        await presence('unsubscribed', bare);
        log.info({ jid: bare }, 'refused a presence subscription');
      }
    }
  }

  /** The roster as the server last told us: read at login, then updated by pushes. */
  let roster: Map<string, RosterItem> | undefined;
  /** Owners asked at the last reconcile for a subscription to their presence (their answer is on its way). */
  let askedOwners = new Set<string>();

  async function reconcile(): Promise<void> {
    try {
      const result = await transport.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
      roster = new Map((result.getChild('query')?.getChildren('item') ?? []).map(parseRosterItem));
    } catch (err) {
      // Without the roster, ask everything (as a client without roster support would): duplicates, not gaps.
      log.warn({ err: errorMessage(err) }, 'could not read the roster; asking every owner for friendship');
      roster = undefined;
    }
    askedOwners = new Set();
    for (const owner of access.owners) {
      const requests = ownerRequests(roster?.get(owner), transport.preApproval === true);
      for (const type of requests) await presence(type, owner); // 'subscribed' first: RFC 6121 §3.4 pre-approval
      if (requests.includes('subscribe')) askedOwners.add(owner);
      if (requests.length) log.info({ jid: owner, requests }, 'asked an owner for friendship');
    }
    for (const [jid, item] of roster ?? []) {
      if ((item.subscription === 'from' || item.subscription === 'both') && !(await access.isFriend(jid))) {
        await presence('unsubscribed', jid);
        log.info({ jid }, 'revoked the presence subscription of someone no longer a friend');
      }
    }
  }

  // RFC 6121 §2.1.6: a push from the server (no from, or our bare JID) is acknowledged with an empty result;
  // from anyone else it is not a roster push.
  transport.handleIq('set', NS_ROSTER, 'query', (stanza, query) => {
    const from = stanza.attrs.from as string | undefined;
    if (from && bareOf(from) !== transport.bareJid) return stanzaError('service-unavailable');
    for (const item of query.getChildren('item')) {
      const [jid, state] = parseRosterItem(item);
      if (state.subscription === 'remove') roster?.delete(jid);
      else roster?.set(jid, state);
    }
    return true;
  });

  const listener = (stanza: Element) =>
    void onPresence(stanza).catch((err) => log.warn({ err: errorMessage(err) }, 'presence handling failed'));
  transport.on('stanza', listener);
  return {
    reconcile,
    /**
     * Owners whose presence the server sends us or is about to: our subscription to them is on the roster read
     * at login, is pending, or was asked for at this login (an online owner's client approves it and the server
     * then sends their presence, RFC 6121 §3.1.6).
     */
    ownersWeHear(): string[] {
      return access.owners.filter((o) => {
        const item = roster?.get(o);
        return (
          item?.subscription === 'to' || item?.subscription === 'both' || item?.ask || askedOwners.has(o)
        );
      });
    },
    /** Of those, the owners whose answer to our subscription request is still to come (asked, not yet `to`). */
    ownersAsked(): string[] {
      return access.owners.filter((o) => {
        const item = roster?.get(o);
        return (
          item?.subscription !== 'to' && item?.subscription !== 'both' && (item?.ask || askedOwners.has(o))
        );
      });
    },
    /** A trusted provisioning server asked us to drop this friendship (XEP-0324 §3.5), or an owner disowned us. */
    async unfriend(jid: string, why = "on the provisioning server's request") {
      await presence('unsubscribed', jid);
      await presence('unsubscribe', jid);
      log.info({ jid }, `unfriended ${why}`);
    },
    /** A trusted provisioning server suggests a friendship: double-check with isFriend, then subscribe. */
    async friend(jid: string) {
      if (await access.isFriend(jid)) await befriend(jid, false);
    },
    stop: () => transport.off('stanza', listener),
  };
}
