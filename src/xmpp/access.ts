/**
 * Who may do what: the one place decisions are made. Owners (bare JIDs from config) may read and control
 * everything. Anyone else is refused, unless XEP-0324 provisioning server(s) are configured: then they decide,
 * possibly narrowing the request to some nodes, fields or parameters (src/xmpp/provisioning.ts).
 */
import type { ControlQuestion, Decision, ProvisioningClient, ReadQuestion } from './provisioning.js';

export interface AccessPolicy {
  readonly owners: readonly string[];
  isOwner(from: string): boolean;
  /** May `from` be our friend (presence subscription both ways)? */
  isFriend(from: string): Promise<boolean>;
  canRead(from: string, question: ReadQuestion): Promise<Decision>;
  canControl(from: string, question: ControlQuestion): Promise<Decision>;
  /** Provisioning servers are friends too, and the only senders of clearCache/friend/unfriend. */
  isProvisioningServer(from: string): boolean;
}

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

const ALLOW: Decision = { allowed: true };
const DENY: Decision = { allowed: false };

export function createAccessPolicy(
  owners: readonly string[],
  provisioning?: ProvisioningClient,
): AccessPolicy {
  const set = new Set(owners.map((o) => o.toLowerCase()));
  const isOwner = (from: string) => {
    try {
      return set.has(bareOf(from));
    } catch {
      return false;
    }
  };
  // Decided per request: servers found by discovery join after login.
  const via = () => (provisioning?.enabled ? provisioning : undefined);
  return {
    owners,
    isOwner,
    isProvisioningServer: (from) => via()?.isTrusted(from) ?? false,
    async isFriend(from) {
      if (isOwner(from) || via()?.isTrusted(from)) return true;
      return via()?.isFriend(from) ?? false;
    },
    async canRead(from, question) {
      if (isOwner(from)) return ALLOW;
      return via()?.canRead(from, question) ?? DENY;
    },
    async canControl(from, question) {
      if (isOwner(from)) return ALLOW;
      return via()?.canControl(from, question) ?? DENY;
    },
  };
}

/** Applies a decision's narrowing to what was asked: undefined = no restriction. */
export function narrow(
  asked: readonly string[],
  allowed: readonly string[] | undefined,
): string[] | undefined {
  if (allowed === undefined) return undefined;
  return asked.length ? asked.filter((a) => allowed.includes(a)) : [...allowed];
}
