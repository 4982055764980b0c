/** JIDs (RFC 7622) as the agent, the hub and the operator tools compare them. */

/**
 * The bare JID of an address, lowercased for comparison: everything before the first `/` (RFC 7622 §3.1; a
 * resource may itself contain `/`). Addresses on this path come from the server, already valid, so no JID parser
 * runs here: @xmpp/jid's parse scans the local part for escapable characters, which showed up in the agent's
 * readout profile (bench, issue 6) for a check made on every stanza.
 */
export function bareOf(address: string): string {
  const slash = address.indexOf('/');
  return (slash < 0 ? address : address.slice(0, slash)).toLowerCase();
}
