/**
 * The hub's state: one interface (`HubStore`) so the fleet-data issue can add PostgreSQL beside this SQLite
 * implementation (better-sqlite3, like the agent's store). It holds the registry's things and, in the same file,
 * the provisioning server's rules, pending questions and notices (provisioning-store.ts).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { IotError } from '../core/errors.js';
import { canonicalTags, type MetaTag } from '../iot/discovery.js';
import { createSqliteProvisioningStore, type ProvisioningStore } from './provisioning-store.js';

/** One registered thing (XEP-0347: one record per bare JID). */
export interface ThingRecord {
  jid: string;
  /** The full JID it last registered from: where the claimed/removed/disowned notices go. */
  address: string;
  tags: MetaTag[];
  owner?: string;
  public: boolean;
}

export interface HubStore extends ProvisioningStore {
  getThing(jid: string): ThingRecord | undefined;
  /** Creates or replaces an unclaimed thing's tags (register). */
  register(jid: string, address: string, tags: readonly MetaTag[]): void;
  /** The unclaimed thing registered with exactly these tags, if any. */
  findUnclaimed(tags: readonly MetaTag[]): ThingRecord | undefined;
  setOwner(jid: string, owner: string | undefined, isPublic: boolean): void;
  setAddress(jid: string, address: string): void;
  /** Claimed public things, by JID. */
  listPublic(): ThingRecord[];
  /** The things `owner` (a bare JID) has claimed, by JID (the provisioning rules, the dashboard's fleet). */
  thingsOf(owner: string): ThingRecord[];
  /** Every claimed thing, public or not, by JID (the things whose readings the hub ingests). */
  listClaimed(): ThingRecord[];
  remove(jid: string): boolean;
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS things (
  jid TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  tags TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  owner TEXT,
  public INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS things_tag_key ON things (tag_key) WHERE owner IS NULL;
CREATE INDEX IF NOT EXISTS things_public ON things (jid) WHERE owner IS NOT NULL AND public = 1;
CREATE INDEX IF NOT EXISTS things_owner ON things (owner, jid) WHERE owner IS NOT NULL;
`;

type Row = { jid: string; address: string; tags: string; owner: string | null; public: number };

const toRecord = (r: Row): ThingRecord => ({
  jid: r.jid,
  address: r.address,
  tags: JSON.parse(r.tags) as MetaTag[],
  ...(r.owner ? { owner: r.owner } : {}),
  public: r.public === 1,
});

export function openSqliteHubStore(path: string): HubStore {
  let db: Database.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL'); // a claim survives power loss
    db.exec(SCHEMA);
  } catch (err) {
    throw new IotError('IOT_ERR_STORE', `cannot open the hub store at ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const get = db.prepare('SELECT jid, address, tags, owner, public FROM things WHERE jid = ?');
  const upsert = db.prepare(
    `INSERT INTO things (jid, address, tags, tag_key, owner, public) VALUES (?, ?, ?, ?, NULL, 1)
     ON CONFLICT (jid) DO UPDATE SET address = excluded.address, tags = excluded.tags, tag_key = excluded.tag_key`,
  );
  const byKey = db.prepare(
    'SELECT jid, address, tags, owner, public FROM things WHERE tag_key = ? AND owner IS NULL',
  );
  const setOwner = db.prepare('UPDATE things SET owner = ?, public = ? WHERE jid = ?');
  const setAddress = db.prepare('UPDATE things SET address = ? WHERE jid = ?');
  const listPublic = db.prepare(
    'SELECT jid, address, tags, owner, public FROM things WHERE owner IS NOT NULL AND public = 1 ORDER BY jid',
  );
  const listClaimed = db.prepare(
    'SELECT jid, address, tags, owner, public FROM things WHERE owner IS NOT NULL ORDER BY jid',
  );
  const del = db.prepare('DELETE FROM things WHERE jid = ?');
  const thingsOf = db.prepare(
    'SELECT jid, address, tags, owner, public FROM things WHERE owner = ? ORDER BY jid',
  );
  const provisioning = createSqliteProvisioningStore(db);
  let closed = false;
  return {
    ...provisioning,
    thingsOf: (owner) => (thingsOf.all(owner) as Row[]).map(toRecord),
    getThing: (jid) => {
      const row = get.get(jid) as Row | undefined;
      return row ? toRecord(row) : undefined;
    },
    register: (jid, address, tags) => {
      upsert.run(jid, address, JSON.stringify(tags), canonicalTags(tags));
    },
    findUnclaimed: (tags) => {
      const row = byKey.get(canonicalTags(tags)) as Row | undefined;
      return row ? toRecord(row) : undefined;
    },
    setOwner: (jid, owner, isPublic) => {
      setOwner.run(owner ?? null, isPublic ? 1 : 0, jid);
    },
    setAddress: (jid, address) => {
      setAddress.run(address, jid);
    },
    listPublic: () => (listPublic.all() as Row[]).map(toRecord),
    listClaimed: () => (listClaimed.all() as Row[]).map(toRecord),
    remove: (jid) => del.run(jid).changes > 0,
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
