/**
 * Who may do what: the one place decisions are made. Owners (bare JIDs from config, plus the owner a thing
 * registry says claimed this agent: src/agent/registry-client.ts) may read and control everything. Anyone else
 * is refused, unless XEP-0324 provisioning server(s) are configured: then they decide, possibly narrowing the
 * request to some nodes, fields or parameters (src/xmpp/provisioning.ts). The provisioning servers themselves may
 * read (the fleet hub keeps the history), but not control.
 */
import { bareOf } from '../xmpp/jid.js';
import type { ControlQuestion, Decision, ReadQuestion } from '../iot/provisioning.js';
import type { ProvisioningClient } from './provisioning.js';

export interface AccessPolicy {
  /** The current owners (a live list: claims add to it). */
  readonly owners: readonly string[];
  isOwner(from: string): boolean;
  /** An owner who claimed us through a registry (XEP-0347); YAML owners stay as they are. */
  addOwner(jid: string): void;
  removeOwner(jid: string): void;
  /** May `from` be our friend (presence subscription both ways)? */
  isFriend(from: string): Promise<boolean>;
  canRead(from: string, question: ReadQuestion): Promise<Decision>;
  canControl(from: string, question: ControlQuestion): Promise<Decision>;
  /** Provisioning servers are friends too, and the only senders of clearCache/friend/unfriend. */
  isProvisioningServer(from: string): boolean;
}

const ALLOW: Decision = { allowed: true };
const DENY: Decision = { allowed: false };

export function createAccessPolicy(
  owners: readonly string[],
  provisioning?: ProvisioningClient,
): AccessPolicy {
  const set = new Set(owners.map((o) => o.toLowerCase()));
  const list = [...set];
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
    owners: list,
    isOwner,
    addOwner(jid) {
      const bare = bareOf(jid);
      if (set.has(bare)) return;
      set.add(bare);
      list.push(bare);
    },
    removeOwner(jid) {
      const bare = bareOf(jid);
      if (!set.delete(bare)) return;
      list.splice(list.indexOf(bare), 1);
    },
    isProvisioningServer: (from) => via()?.isTrusted(from) ?? false,
    async isFriend(from) {
      if (isOwner(from) || via()?.isTrusted(from)) return true;
      return via()?.isFriend(from) ?? false;
    },
    async canRead(from, question) {
      if (isOwner(from)) return ALLOW;
      // A thing trusts its provisioning server(s) to read its data without asking anyone (issue 16): the fleet
      // hub is the thing's provisioning server and keeps its history; the party that decides who may read is
      // trusted to read. Control is not implied: canControl still asks.
      if (via()?.isTrusted(from)) return ALLOW;
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

/**
 * A token bucket per requester (bare JID): `burst` requests at once, refilled at `rate` per second. `take` answers
 * whether one more request may run now. Requesters whose bucket is full again are forgotten, so a flood of
 * addresses costs memory only while they keep sending.
 */
export function createRequestLimiter(options: { rate: number; burst: number }) {
  const { rate, burst } = options;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refill = (b: { tokens: number; at: number }, now: number) => {
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
  };
  return {
    rate,
    burst,
    take(from: string, now = Date.now()): boolean {
      if (rate <= 0) return true;
      const key = bareOf(from);
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= 10_000) {
          for (const [k, other] of buckets) {
            refill(other, now);
            if (other.tokens >= burst) buckets.delete(k);
          }
        }
        b = { tokens: burst, at: now };
        buckets.set(key, b);
      } else refill(b, now);
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    /** Requesters currently tracked (tests). */
    size: () => buckets.size,
  };
}

export type RequestLimiter = ReturnType<typeof createRequestLimiter>;
