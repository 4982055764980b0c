/**
 * What the provisioning server keeps (part of HubStore, same SQLite file, synchronous like the rest): the owners'
 * rules, the questions waiting for an owner, the notices (clearCache, friend, unfriend) a thing has not
 * acknowledged yet, and who asked which thing (to tell a thing to unfriend someone a domain rule no longer allows).
 */
import type Database from 'better-sqlite3';
import type { Rule, RuleAction, RuleInput } from '../iot/provisioning-rules.js';

/** What a thing asked: isFriend ('friend'), canRead, canControl. */
export type QuestionKind = 'friend' | RuleAction;

export interface PendingQuestion {
  id: number;
  owner: string;
  thing: string;
  requester: string;
  kind: QuestionKind;
  nodes: string[];
  names: string[];
  askedAt: number;
  /** The thing already got an answer (a deny, when the owner did not decide in time). */
  answered: boolean;
  /** The owner approved once after the thing was answered: its next such question is allowed. */
  granted: boolean;
}

export type NoticeKind = 'clearCache' | 'friend' | 'unfriend';

export interface Notice {
  thing: string;
  kind: NoticeKind;
  /** The friend to add or drop; '' for clearCache. */
  jid: string;
}

export interface ProvisioningStore {
  /** Adds a rule, replacing the owner's rule for the same target, requester and action. */
  addRule(owner: string, rule: RuleInput): Rule;
  removeRule(owner: string, id: number): Rule | undefined;
  rulesOf(owner: string): Rule[];
  addPending(q: Omit<PendingQuestion, 'id' | 'answered' | 'granted'>): PendingQuestion;
  getPending(id: number): PendingQuestion | undefined;
  findPending(thing: string, requester: string, kind: QuestionKind): PendingQuestion | undefined;
  pendingOf(owner: string): PendingQuestion[];
  markPending(id: number, change: { answered?: boolean; granted?: boolean }): void;
  removePending(id: number): void;
  /** Drops questions asked before `before`; returns how many. */
  expirePending(before: number): number;
  addNotice(notice: Notice): void;
  noticesFor(thing: string): Notice[];
  /** Things with notices waiting. */
  noticeThings(): string[];
  removeNotice(notice: Notice): void;
  /** Remembers that `requester` asked `thing` something (at most `PER_THING` per thing, the newest). */
  rememberAsker(thing: string, requester: string): void;
  askersOf(thing: string): string[];
}

const PER_THING = 1000;

export const PROVISIONING_SCHEMA = `
CREATE TABLE IF NOT EXISTS provisioning_rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  target TEXT NOT NULL,
  requester TEXT NOT NULL,
  action TEXT NOT NULL,
  allow INTEGER NOT NULL,
  nodes TEXT,
  names TEXT,
  UNIQUE (owner, target, requester, action)
);
CREATE TABLE IF NOT EXISTS provisioning_pending (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  thing TEXT NOT NULL,
  requester TEXT NOT NULL,
  kind TEXT NOT NULL,
  nodes TEXT NOT NULL,
  names TEXT NOT NULL,
  asked_at INTEGER NOT NULL,
  answered INTEGER NOT NULL DEFAULT 0,
  granted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (thing, requester, kind)
);
CREATE INDEX IF NOT EXISTS provisioning_pending_owner ON provisioning_pending (owner);
CREATE TABLE IF NOT EXISTS provisioning_notices (
  thing TEXT NOT NULL,
  kind TEXT NOT NULL,
  jid TEXT NOT NULL,
  PRIMARY KEY (thing, kind, jid)
);
CREATE TABLE IF NOT EXISTS provisioning_askers (
  thing TEXT NOT NULL,
  requester TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (thing, requester)
);
`;

type RuleRow = {
  id: number;
  owner: string;
  target: string;
  requester: string;
  action: RuleAction;
  allow: number;
  nodes: string | null;
  names: string | null;
};

const targetOf = (r: RuleInput) => (r.thing ? `thing:${r.thing}` : `tag:${r.tag?.name}=${r.tag?.value}`);

function toRule(row: RuleRow): Rule {
  const [kind, ...rest] = row.target.split(':');
  const target = rest.join(':');
  const at = target.indexOf('=');
  return {
    id: row.id,
    owner: row.owner,
    ...(kind === 'thing'
      ? { thing: target }
      : { tag: { name: target.slice(0, at), value: target.slice(at + 1) } }),
    requester: row.requester,
    action: row.action,
    allow: row.allow === 1,
    ...(row.nodes ? { nodes: JSON.parse(row.nodes) as string[] } : {}),
    ...(row.names ? { names: JSON.parse(row.names) as string[] } : {}),
  };
}

type PendingRow = Omit<PendingQuestion, 'nodes' | 'names' | 'answered' | 'granted' | 'askedAt'> & {
  nodes: string;
  names: string;
  asked_at: number;
  answered: number;
  granted: number;
};

const toPending = (r: PendingRow): PendingQuestion => ({
  id: r.id,
  owner: r.owner,
  thing: r.thing,
  requester: r.requester,
  kind: r.kind,
  nodes: JSON.parse(r.nodes) as string[],
  names: JSON.parse(r.names) as string[],
  askedAt: r.asked_at,
  answered: r.answered === 1,
  granted: r.granted === 1,
});

export function createSqliteProvisioningStore(db: Database.Database): ProvisioningStore {
  db.exec(PROVISIONING_SCHEMA);
  const q = {
    upsertRule: db.prepare(
      `INSERT INTO provisioning_rules (owner, target, requester, action, allow, nodes, names)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner, target, requester, action)
       DO UPDATE SET allow = excluded.allow, nodes = excluded.nodes, names = excluded.names
       RETURNING *`,
    ),
    getRule: db.prepare('SELECT * FROM provisioning_rules WHERE id = ? AND owner = ?'),
    delRule: db.prepare('DELETE FROM provisioning_rules WHERE id = ? AND owner = ?'),
    rulesOf: db.prepare('SELECT * FROM provisioning_rules WHERE owner = ? ORDER BY id'),
    addPending: db.prepare(
      `INSERT INTO provisioning_pending (owner, thing, requester, kind, nodes, names, asked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ),
    getPending: db.prepare('SELECT * FROM provisioning_pending WHERE id = ?'),
    findPending: db.prepare(
      'SELECT * FROM provisioning_pending WHERE thing = ? AND requester = ? AND kind = ?',
    ),
    pendingOf: db.prepare('SELECT * FROM provisioning_pending WHERE owner = ? ORDER BY id'),
    markAnswered: db.prepare('UPDATE provisioning_pending SET answered = ? WHERE id = ?'),
    markGranted: db.prepare('UPDATE provisioning_pending SET granted = ? WHERE id = ?'),
    delPending: db.prepare('DELETE FROM provisioning_pending WHERE id = ?'),
    expire: db.prepare('DELETE FROM provisioning_pending WHERE asked_at < ?'),
    addNotice: db.prepare('INSERT OR IGNORE INTO provisioning_notices (thing, kind, jid) VALUES (?, ?, ?)'),
    noticesFor: db.prepare('SELECT thing, kind, jid FROM provisioning_notices WHERE thing = ?'),
    noticeThings: db.prepare('SELECT DISTINCT thing FROM provisioning_notices'),
    delNotice: db.prepare('DELETE FROM provisioning_notices WHERE thing = ? AND kind = ? AND jid = ?'),
    asker: db.prepare(
      `INSERT INTO provisioning_askers (thing, requester, at) VALUES (?, ?, ?)
       ON CONFLICT (thing, requester) DO UPDATE SET at = excluded.at`,
    ),
    trimAskers: db.prepare(
      `DELETE FROM provisioning_askers WHERE thing = ? AND requester NOT IN
       (SELECT requester FROM provisioning_askers WHERE thing = ? ORDER BY at DESC LIMIT ${PER_THING})`,
    ),
    askersOf: db.prepare('SELECT requester FROM provisioning_askers WHERE thing = ? ORDER BY requester'),
  };
  const list = (l: string[] | undefined) => (l?.length ? JSON.stringify(l) : null);
  let asked = 0;
  return {
    addRule: (owner, r) =>
      toRule(
        q.upsertRule.get(
          owner,
          targetOf(r),
          r.requester,
          r.action,
          r.allow ? 1 : 0,
          list(r.nodes),
          list(r.names),
        ) as RuleRow,
      ),
    removeRule(owner, id) {
      const row = q.getRule.get(id, owner) as RuleRow | undefined;
      if (!row) return undefined;
      q.delRule.run(id, owner);
      return toRule(row);
    },
    rulesOf: (owner) => (q.rulesOf.all(owner) as RuleRow[]).map(toRule),
    addPending: (p) =>
      toPending(
        q.addPending.get(
          p.owner,
          p.thing,
          p.requester,
          p.kind,
          JSON.stringify(p.nodes),
          JSON.stringify(p.names),
          p.askedAt,
        ) as PendingRow,
      ),
    getPending(id) {
      const row = q.getPending.get(id) as PendingRow | undefined;
      return row ? toPending(row) : undefined;
    },
    findPending(thing, requester, kind) {
      const row = q.findPending.get(thing, requester, kind) as PendingRow | undefined;
      return row ? toPending(row) : undefined;
    },
    pendingOf: (owner) => (q.pendingOf.all(owner) as PendingRow[]).map(toPending),
    markPending(id, change) {
      if (change.answered !== undefined) q.markAnswered.run(change.answered ? 1 : 0, id);
      if (change.granted !== undefined) q.markGranted.run(change.granted ? 1 : 0, id);
    },
    removePending: (id) => void q.delPending.run(id),
    expirePending: (before) => q.expire.run(before).changes,
    addNotice: (n) => void q.addNotice.run(n.thing, n.kind, n.jid),
    noticesFor: (thing) => q.noticesFor.all(thing) as Notice[],
    noticeThings: () => (q.noticeThings.all() as { thing: string }[]).map((r) => r.thing),
    removeNotice: (n) => void q.delNotice.run(n.thing, n.kind, n.jid),
    rememberAsker(thing, requester) {
      q.asker.run(thing, requester, Date.now());
      // Trimming costs a scan: do it now and then, not on every question.
      if (++asked % 100 === 0) q.trimAskers.run(thing, thing);
    },
    askersOf: (thing) => (q.askersOf.all(thing) as { requester: string }[]).map((r) => r.requester),
  };
}
