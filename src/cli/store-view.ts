/**
 * Read-only queries on an agent's store for `xiot status` and `xiot history`. The store is in WAL mode, so a
 * second process reads it while the agent writes, without locking the agent out; nothing here writes.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { IotError } from '../core/errors.js';
import type { Field } from '../model/fields.js';

export interface StoredRow {
  device: string;
  ts: number;
  fields: Field[];
}

export interface StoreView {
  lastReadings(): Map<string, StoredRow>;
  outboxDepth(): number;
  history(device: string, fromMs: number | undefined, limit: number): StoredRow[];
  devices(): string[];
  close(): void;
}

function decode(text: string): Field[] {
  return JSON.parse(text) as Field[];
}

export function openStoreView(path: string): StoreView {
  if (!existsSync(path))
    throw new IotError('IOT_ERR_STORE', `no store at ${path} (the agent has not run with this config yet)`);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new IotError(
      'IOT_ERR_STORE',
      `cannot read the store at ${path}${code === 'SQLITE_CANTOPEN' ? ' (permission denied? run as the agent user or root)' : `: ${(err as Error).message}`}`,
    );
  }
  type Row = { device: string; ts: number; fields: string };
  const row = (r: Row): StoredRow => ({ device: r.device, ts: r.ts, fields: decode(r.fields) });
  return {
    lastReadings() {
      const rows = db
        .prepare(
          'SELECT r.device, r.ts, r.fields FROM readings r JOIN (SELECT device, max(id) AS id FROM readings GROUP BY device) l ON r.id = l.id ORDER BY r.device',
        )
        .all() as Row[];
      return new Map(rows.map((r) => [r.device, row(r)]));
    },
    outboxDepth: () => (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n,
    history(device, fromMs, limit) {
      const rows = db
        .prepare(
          'SELECT device, ts, fields FROM (SELECT id, device, ts, fields FROM readings WHERE device = ? AND ts >= ? ORDER BY ts DESC, id DESC LIMIT ?) ORDER BY ts, id',
        )
        .all(device, fromMs ?? 0, limit) as Row[];
      return rows.map(row);
    },
    devices: () =>
      (db.prepare('SELECT DISTINCT device FROM readings ORDER BY device').all() as { device: string }[]).map(
        (r) => r.device,
      ),
    close: () => db.close(),
  };
}
