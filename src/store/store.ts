/**
 * The local store (SQLite through better-sqlite3): reading history plus the publish outbox.
 * A reading is committed (history row + outbox row, one transaction, fsynced) BEFORE anyone tries to publish it;
 * the outbox row goes only when the pubsub service acknowledged the publish. So a crash, a server restart or a
 * network cut loses nothing, and history readouts (XEP-0323 from/to) are served from the same rows.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { IotError } from '../core/errors.js';
import type { Field, Reading } from '../model/fields.js';

export interface StoredReading extends Reading {
  id: number;
}

export interface HistoryQuery {
  deviceIds: readonly string[];
  fromMs?: number;
  toMs?: number;
  limit: number;
}

export interface ReadingStore {
  /** Stores a reading; with `enqueue`, also puts it in the outbox. Returns its id. */
  add(reading: Reading, enqueue: boolean): number;
  /** The oldest outbox entries (by insertion order), at most `limit`, with ids greater than `afterId`. */
  outbox(limit: number, afterId?: number): StoredReading[];
  acknowledge(id: number): void;
  /** Several acknowledgements in one transaction (one fsync for a window of publishes). */
  acknowledgeMany(ids: readonly number[]): void;
  outboxDepth(): number;
  history(query: HistoryQuery): StoredReading[];
  /** Deletes history older than `beforeMs`, except readings still waiting in the outbox. */
  prune(beforeMs: number): number;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  /** XEP-0324 decisions, kept across restarts until the provisioning server says clearCache. */
  getDecision(key: string): string | undefined;
  setDecision(key: string, value: string): void;
  clearDecisions(): number;
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device TEXT NOT NULL,
  ts INTEGER NOT NULL,
  fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_device_ts ON readings (device, ts);
CREATE TABLE IF NOT EXISTS outbox (reading_id INTEGER PRIMARY KEY REFERENCES readings (id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** The page cache bound, in KiB (SQLite's own default). */
const CACHE_KIB = 2000;

type Row = { id: number; device: string; ts: number; fields: string };

function encodeFields(fields: Field[]): string {
  return JSON.stringify(fields, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function decodeFields(text: string): Field[] {
  const fields = JSON.parse(text) as Field[];
  for (const f of fields) {
    if (f.type === 'long' && typeof f.value === 'string') f.value = BigInt(f.value);
  }
  return fields;
}

const toReading = (r: Row): StoredReading => ({
  id: r.id,
  deviceId: r.device,
  timestamp: r.ts,
  fields: decodeFields(r.fields),
});

export function openStore(path: string): ReadingStore {
  let db: Database.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    // FULL: a committed reading survives power loss, not just a crash (one fsync per reading is cheap at
    // sensor rates; batching comes with the benchmark issue if it ever matters).
    db.pragma('synchronous = FULL');
    // better-sqlite3 builds SQLite with a 16 MiB page cache per connection (SQLITE_DEFAULT_CACHE_SIZE=-16000);
    // it fills as history grows and is never returned: +20 MiB of RSS over the first ~70,000 readings (issue 13,
    // bench/scenarios/soak.ts). What the agent touches is the tail of the history, the outbox and the index
    // pages: SQLite's own default of 2 MiB holds them.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.exec(SCHEMA);
  } catch (err) {
    throw new IotError('IOT_ERR_STORE', `cannot open the store at ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const insertReading = db.prepare('INSERT INTO readings (device, ts, fields) VALUES (?, ?, ?)');
  const insertOutbox = db.prepare('INSERT INTO outbox (reading_id) VALUES (?)');
  const add = db.transaction((reading: Reading, enqueue: boolean) => {
    const id = Number(
      insertReading.run(reading.deviceId, reading.timestamp, encodeFields(reading.fields)).lastInsertRowid,
    );
    if (enqueue) insertOutbox.run(id);
    return id;
  });
  const selectOutbox = db.prepare(
    'SELECT r.id, r.device, r.ts, r.fields FROM outbox o JOIN readings r ON r.id = o.reading_id WHERE o.reading_id > ? ORDER BY o.reading_id LIMIT ?',
  );
  const deleteOutbox = db.prepare('DELETE FROM outbox WHERE reading_id = ?');
  const countOutbox = db.prepare('SELECT count(*) AS n FROM outbox');
  const acknowledgeMany = db.transaction((ids: readonly number[]) => {
    for (const id of ids) deleteOutbox.run(id);
  });
  const pruneStmt = db.prepare(
    'DELETE FROM readings WHERE ts < ? AND id NOT IN (SELECT reading_id FROM outbox)',
  );
  const getMetaStmt = db.prepare('SELECT value FROM meta WHERE key = ?');
  const setMetaStmt = db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const getDecisionStmt = db.prepare('SELECT value FROM decisions WHERE key = ?');
  const setDecisionStmt = db.prepare(
    'INSERT INTO decisions (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const clearDecisionsStmt = db.prepare('DELETE FROM decisions');
  let closed = false;
  return {
    add: (reading, enqueue) => add(reading, enqueue),
    outbox: (limit, afterId = 0) => (selectOutbox.all(afterId, limit) as Row[]).map(toReading),
    acknowledge: (id) => {
      deleteOutbox.run(id);
    },
    acknowledgeMany: (ids) => acknowledgeMany(ids),
    outboxDepth: () => (countOutbox.get() as { n: number }).n,
    history({ deviceIds, fromMs, toMs, limit }) {
      if (deviceIds.length === 0) return [];
      const marks = deviceIds.map(() => '?').join(',');
      const rows = db
        .prepare(
          `SELECT id, device, ts, fields FROM readings WHERE device IN (${marks}) AND ts >= ? AND ts <= ? ORDER BY ts, id LIMIT ?`,
        )
        .all(...deviceIds, fromMs ?? 0, toMs ?? Number.MAX_SAFE_INTEGER, limit) as Row[];
      return rows.map(toReading);
    },
    prune: (beforeMs) => pruneStmt.run(beforeMs).changes,
    getMeta: (key) => (getMetaStmt.get(key) as { value: string } | undefined)?.value,
    setMeta: (key, value) => {
      setMetaStmt.run(key, value);
    },
    getDecision: (key) => (getDecisionStmt.get(key) as { value: string } | undefined)?.value,
    setDecision: (key, value) => {
      setDecisionStmt.run(key, value);
    },
    clearDecisions: () => clearDecisionsStmt.run().changes,
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
