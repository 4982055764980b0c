/**
 * Who may do what. Owners (bare JIDs from config) may read and control; everyone else is refused until the
 * XEP-0324 provisioning issue plugs a provisioning client in here (the one place decisions are made).
 */
import { jid } from '@xmpp/client';

export interface AccessPolicy {
  isOwner(from: string): boolean;
  canRead(from: string): Promise<boolean>;
  readonly owners: readonly string[];
}

export function bareOf(address: string): string {
  return jid(address).bare().toString().toLowerCase();
}

export function createAccessPolicy(owners: readonly string[]): AccessPolicy {
  const set = new Set(owners.map((o) => o.toLowerCase()));
  const isOwner = (from: string) => {
    try {
      return set.has(bareOf(from));
    } catch {
      return false;
    }
  };
  return { owners, isOwner, canRead: async (from) => isOwner(from) };
}
