/**
 * The CLI's side of friendship (RFC 6121 presence subscriptions): an owner who has only `xiot` must become
 * friends with its agents, or the server sends it neither their presence (bare-JID addressing) nor their PEP
 * readings (issue 12 item 7).
 *
 * Whom the CLI approves (it answers a subscription request with `subscribed`): a bare JID that is
 *   1. named on the command line of this run (`xiot read hall@example.org` means "I want to use hall"), or
 *   2. listed in `agents:` of the operator file or in `XIOT_AGENTS`, or
 *   3. already on the operator's roster with subscription `to`/`both` or a pending request of ours
 *      (`ask="subscribe"`): someone the operator asked for earlier.
 * Anyone else's request is left pending on the server (not refused), so a later run that names the agent can
 * still approve it; `xiot devices` mentions such requests. Never everyone: a subscription shows the operator's
 * presence to the requester.
 *
 * Addressing a bare JID we have no subscription to sends `subscribe`, with a pre-approval (RFC 6121 §3.4) where
 * the server offers one, so the agent's own request is approved even when it arrives after we logged out;
 * elsewhere the server keeps that request and hands it to our next run, which approves it (point 3 above).
 * Either way it works whichever logged in first.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { bareOf } from '../xmpp/jid.js';
import type { Transport } from '../xmpp/transport.js';

const NS_ROSTER = 'jabber:iq:roster';

export interface RosterItem {
  jid: string;
  subscription: 'none' | 'to' | 'from' | 'both' | 'remove';
  /** A subscription request of ours awaits the contact's answer. */
  asked: boolean;
}

/** Where a contact stands, for messages and `xiot devices`. */
export type Friendship = 'subscribed' | 'asked' | 'refused' | 'none';

const subscribedTo = (item: RosterItem | undefined) =>
  item?.subscription === 'to' || item?.subscription === 'both';

export function createOperatorContacts(deps: { transport: Transport; named: string[]; agents: string[] }) {
  const { transport } = deps;
  const wanted = new Set([...deps.named, ...deps.agents].map((j) => bareOf(j).toLowerCase()));
  const roster = new Map<string, RosterItem>();
  /** Available full JIDs per bare JID, most recent last. */
  const online = new Map<string, string[]>();
  /** The `<status>` text of each contact's latest available presence. */
  const statuses = new Map<string, string>();
  const refused = new Set<string>();
  const asked = new Set<string>();
  /** Subscription requests we left pending (not ours to approve). */
  const pendingRequests = new Set<string>();
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };

  const remember = (item: Element) => {
    const jid = (item.attrs.jid as string).toLowerCase();
    const subscription = item.attrs.subscription as RosterItem['subscription'];
    if (subscription === 'remove') roster.delete(jid);
    else
      roster.set(jid, { jid, subscription: subscription ?? 'none', asked: item.attrs.ask === 'subscribe' });
  };

  // Roster pushes (RFC 6121 §2.1.6): only from our own account; a result is required.
  transport.handleIq('set', NS_ROSTER, 'query', (stanza, query) => {
    const from = stanza.attrs.from as string | undefined;
    if (from && bareOf(from).toLowerCase() !== transport.bareJid.toLowerCase()) return false;
    for (const item of query.getChildren('item')) remember(item);
    wake();
    return true;
  });

  transport.on('stanza', (s: Element) => {
    if (!s.is('presence') || !s.attrs.from) return;
    const from = s.attrs.from as string;
    const bare = bareOf(from).toLowerCase();
    const type = s.attrs.type as string | undefined;
    if (type === undefined || type === 'unavailable') {
      const list = (online.get(bare) ?? []).filter((j) => j !== from);
      if (type === undefined) list.push(from);
      online.set(bare, list);
      if (type === undefined) statuses.set(bare, s.getChildText('status') ?? '');
    } else if (type === 'unsubscribed') refused.add(bare);
    else if (type === 'subscribed') refused.delete(bare);
    else if (type === 'subscribe' && approves(bare) === undefined) pendingRequests.add(bare);
    wake();
  });

  /** The rule above; `undefined` leaves the request pending. */
  function approves(bareJid: string): boolean | undefined {
    const bare = bareJid.toLowerCase();
    if (wanted.has(bare)) return true;
    const item = roster.get(bare);
    if (subscribedTo(item) || item?.asked || asked.has(bare)) return true;
    return undefined;
  }

  function friendship(bareJid: string): Friendship {
    const bare = bareJid.toLowerCase();
    if (refused.has(bare)) return 'refused';
    const item = roster.get(bare);
    if (subscribedTo(item)) return 'subscribed';
    if (item?.asked || asked.has(bare)) return 'asked';
    return 'none';
  }

  const fullJid = (bareJid: string) => online.get(bareJid.toLowerCase())?.at(-1);

  return {
    approves,
    friendship,
    fullJid,
    statusOf: (bareJid: string) => statuses.get(bareJid.toLowerCase()) ?? '',
    roster: () => [...roster.values()],
    /** Bare JIDs named on the command line or configured. */
    wanted: () => [...wanted],
    pendingRequests: () => [...pendingRequests].filter((j) => approves(j) === undefined),
    /** Reads the roster; call before the initial presence (the server then re-sends pending requests). */
    async load(): Promise<void> {
      const result = await transport.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
      for (const item of result.getChild('query')?.getChildren('item') ?? []) remember(item);
    },
    /** Asks `bareJid` for its presence unless we have it or asked already (this run or an earlier one). */
    async befriend(bareJid: string): Promise<Friendship> {
      const bare = bareOf(bareJid).toLowerCase();
      wanted.add(bare);
      const now = friendship(bare);
      if (now === 'subscribed' || now === 'asked') return now;
      refused.delete(bare);
      asked.add(bare);
      if (transport.preApproval) await transport.send(xml('presence', { to: bare, type: 'subscribed' }));
      await transport.send(xml('presence', { to: bare, type: 'subscribe' }));
      return 'asked';
    },
    /** Resolves with the contact's online full JID, or `undefined` when none arrived within `ms`. */
    async waitOnline(bareJid: string, ms: number): Promise<string | undefined> {
      const deadline = Date.now() + ms;
      for (;;) {
        const full = fullJid(bareJid);
        if (full || Date.now() >= deadline || friendship(bareJid) === 'refused') return full;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
          waiters.add(done);
        });
      }
    },
  };
}

export type OperatorContacts = ReturnType<typeof createOperatorContacts>;
