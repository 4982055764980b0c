/**
 * Presence for a hub that is a plain account (`xmpp.account`). A component is addressed by its domain; an
 * account only by a full JID, because the server answers IQs to a bare JID itself (RFC 6120 §10.5.3). So:
 * - at each login the hub sends its presence (with XEP-0115 caps), which reaches every JID subscribed to it;
 * - anyone may subscribe (XEP-0347 §3.2: "a registry that is a JID must be befriended"): the request is approved,
 *   the hub never subscribes back (it needs nobody's presence: notices go to the full JID a thing registered
 *   from). Approving everyone is what a component does too: anyone who can route to it may talk to it; who may
 *   claim, update or disown is the registry's business, not presence's;
 * - a directed presence to the hub's bare JID (a CLI session's, or an agent's first question) is answered with
 *   a directed presence from the hub's full JID, so short sessions find it without touching any roster. The hub
 *   subscribes to nobody, so every available presence it receives is such a question (ejabberd delivers them
 *   with `to` rewritten to our full JID, so `to` cannot tell). One answer per question, at most one a second per
 *   sender (a flood gets back less than it sends), and never to a presence that is itself a hub's answer (its
 *   caps node), so two hubs cannot keep answering each other.
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { bareOf } from '../xmpp/jid.js';
import { NS } from '../xmpp/ns.js';
import { stanzaError } from '../xmpp/stanza-errors.js';
import type { Transport } from '../xmpp/transport.js';

const ANSWER_EVERY_MS = 1000;
const NS_ROSTER = 'jabber:iq:roster';
const MAX_REMEMBERED = 10_000;

export function createAccountPresence(deps: { transport: Transport; caps: () => Element; log: Logger }) {
  const { transport, caps, log } = deps;
  const capsNode = caps().attrs.node as string;
  const answered = new Map<string, number>();
  const send = (stanza: Element) =>
    transport.send(stanza).catch((err) => log.debug({ err: errorMessage(err) }, 'presence not sent'));

  const onOnline = () => void send(xml('presence', {}, caps()));
  const onStanza = (stanza: Element) => {
    if (!stanza.is('presence')) return;
    const from = stanza.attrs.from as string | undefined;
    if (!from || bareOf(from) === transport.bareJid) return;
    const type = stanza.attrs.type as string | undefined;
    if (type === 'subscribe') {
      void send(xml('presence', { type: 'subscribed', to: bareOf(from) }));
      log.info({ jid: bareOf(from) }, 'approved a presence subscription');
      return;
    }
    if (type !== undefined || !from.includes('/')) return;
    if (stanza.getChild('c', NS.caps)?.attrs.node === capsNode) return;
    const now = Date.now();
    if (now - (answered.get(from) ?? -Infinity) < ANSWER_EVERY_MS) return;
    if (answered.size >= MAX_REMEMBERED)
      for (const [k, t] of answered) if (now - t >= ANSWER_EVERY_MS) answered.delete(k);
    if (answered.size >= MAX_REMEMBERED) answered.delete(answered.keys().next().value as string);
    answered.set(from, now);
    void send(xml('presence', { to: from }, caps()));
  };
  // Roster pushes (RFC 6121 §2.1.6) as approvals change the roster: acknowledged, from the server only. The hub
  // never reads its roster, so servers that push only to "interested" sessions (Prosody) send none.
  transport.handleIq('set', NS_ROSTER, 'query', (stanza) => {
    const from = stanza.attrs.from as string | undefined;
    return from && bareOf(from) !== transport.bareJid ? stanzaError('service-unavailable') : true;
  });
  return {
    start() {
      transport.on('online', onOnline);
      transport.on('stanza', onStanza);
    },
    stop() {
      transport.off('online', onOnline);
      transport.off('stanza', onStanza);
    },
  };
}
