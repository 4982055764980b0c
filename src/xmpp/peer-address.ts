/**
 * Where to send IQs meant for a service that is a plain account (an account hub, a provisioning server): the
 * server answers an IQ to a bare JID itself (RFC 6120 §10.5.3, RFC 6121 §8.5.2.1.3), so a request must go to
 * one of the account's full JIDs, which only presence reveals. A domain JID (a component) or a full JID is used
 * as it is.
 *
 * `findAccountAddress` asks once with a directed presence to the bare JID (RFC 6121 §4.6), which the server
 * delivers to the account's available resources; an account hub answers it with a directed presence from its
 * full JID (src/hub/account-presence.ts). Short sessions (the CLI) use that; long-running agents also befriend
 * the account so that its later logins reach them too (`trackAccountAddress`).
 */
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { XmppTimeoutError } from '../core/errors.js';
import { bareOf } from './jid.js';
import type { Transport } from './transport.js';

/** A bare JID with a local part: an account, reached through one of its resources. */
export const isAccountJid = (jid: string): boolean => jid.includes('@') && !jid.includes('/');

/** Resolves with the full JID of `jid` that answered a directed presence (anything else as it is). */
export async function findAccountAddress(
  transport: Transport,
  jid: string,
  timeoutMs = 10_000,
): Promise<string> {
  if (!isAccountJid(jid)) return jid;
  const bare = jid.toLowerCase();
  let listener: ((s: Element) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      listener = (s: Element) => {
        const from = s.attrs.from as string | undefined;
        if (s.is('presence') && s.attrs.type === undefined && from?.includes('/') && bareOf(from) === bare)
          resolve(from);
      };
      transport.on('stanza', listener);
      timer = setTimeout(
        () =>
          reject(
            new XmppTimeoutError(
              `presence of ${bare} (an account: is its hub running and online?)`,
              timeoutMs,
            ),
          ),
        timeoutMs,
      );
      transport.send(xml('presence', { to: bare })).catch(reject);
    });
  } finally {
    clearTimeout(timer);
    if (listener) transport.off('stanza', listener);
  }
}

/**
 * Keeps the current full JID of an account from the presences it sends us (subscription or directed): the
 * latest available resource wins, an unavailable one is forgotten. `onAvailable` runs on each new address.
 */
export function trackAccountAddress(
  transport: Transport,
  jid: string,
  onAvailable?: (address: string) => void,
) {
  const bare = jid.toLowerCase();
  let address: string | undefined;
  const listener = (s: Element) => {
    const from = s.attrs.from as string | undefined;
    if (!s.is('presence') || !from?.includes('/') || bareOf(from) !== bare) return;
    if (s.attrs.type === 'unavailable') {
      if (address === from) address = undefined;
    } else if (s.attrs.type === undefined && address !== from) {
      address = from;
      onAvailable?.(from);
    }
  };
  transport.on('stanza', listener);
  const offline = () => {
    address = undefined;
  };
  transport.on('offline', offline);
  return {
    get address() {
      return address;
    },
    stop() {
      transport.off('stanza', listener);
      transport.off('offline', offline);
    },
  };
}
