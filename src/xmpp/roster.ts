/**
 * Friendship (RFC 6121 presence subscriptions). Owners are friends both ways: their subscription requests are
 * approved (and pre-approved at login, so it works while we are offline), and we subscribe to them.
 * Everyone else is refused, and a non-owner left on the roster from an earlier config loses its subscription:
 * with PEP's `presence` access model, a subscription is read access to the readings.
 * The provisioning issue adds XEP-0324 `isFriend` here for strangers.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type AccessPolicy, bareOf } from './access.js';
import type { Transport } from './transport.js';

const NS_ROSTER = 'jabber:iq:roster';

export function createRosterPolicy(deps: { transport: Transport; access: AccessPolicy; log: Logger }) {
  const { transport, access, log } = deps;
  const presence = (type: string, to: string) => transport.send(xml('presence', { type, to }));
  const befriend = async (jid: string) => {
    await presence('subscribed', jid);
    await presence('subscribe', jid);
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
        await befriend(bare);
        log.info({ jid: bare, owner: access.isOwner(bare) }, 'accepted a presence subscription');
      } else {
        await presence('unsubscribed', bare);
        log.info({ jid: bare }, 'refused a presence subscription');
      }
    }
  }

  async function reconcile(): Promise<void> {
    for (const owner of access.owners) {
      await presence('subscribed', owner); // RFC 6121 §3.4 pre-approval
      await presence('subscribe', owner);
    }
    try {
      const result = await transport.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
      for (const item of result.getChild('query')?.getChildren('item') ?? []) {
        const jid = item.attrs.jid as string;
        const sub = item.attrs.subscription as string;
        if ((sub === 'from' || sub === 'both') && !(await access.isFriend(jid))) {
          await presence('unsubscribed', jid);
          log.info({ jid }, 'revoked the presence subscription of someone no longer a friend');
        }
      }
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not read the roster');
    }
  }

  const listener = (stanza: Element) =>
    void onPresence(stanza).catch((err) => log.warn({ err: errorMessage(err) }, 'presence handling failed'));
  transport.on('stanza', listener);
  return {
    reconcile,
    /** A trusted provisioning server asked us to drop this friendship (XEP-0324 §3.5). */
    async unfriend(jid: string) {
      await presence('unsubscribed', jid);
      await presence('unsubscribe', jid);
      log.info({ jid }, "unfriended on the provisioning server's request");
    },
    /** A trusted provisioning server suggests a friendship: double-check with isFriend, then subscribe. */
    async friend(jid: string) {
      if (await access.isFriend(jid)) await befriend(jid);
    },
    stop: () => transport.off('stanza', listener),
  };
}
