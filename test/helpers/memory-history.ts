/**
 * An in-memory HistoryStore for unit tests of its users (ingest, the CLI's formatting): the interface's
 * contract in a few lines (idempotent on readingKey, ranges oldest first). The real stores (SQLite,
 * PostgreSQL) have their own suite; integration tests use them, never this.
 */
import type { Bucket, HistoryStore, RangeQuery, StoredReading } from '../../src/hub/history.js';
import { readingKey } from '../../src/hub/history.js';

export interface MemoryHistory extends HistoryStore {
  readonly rows: Map<string, StoredReading>;
  /** Every insert call's readings, in order (to see what was stored when). */
  readonly inserts: StoredReading[][];
  /** Makes the next insert calls fail (a database error). */
  failNext(n: number): void;
}

export function memoryHistory(): MemoryHistory {
  const rows = new Map<string, StoredReading>();
  const inserts: StoredReading[][] = [];
  const listeners = new Set<(r: readonly StoredReading[]) => void>();
  let failures = 0;
  const sorted = () => [...rows.values()].sort((a, b) => a.timestamp - b.timestamp);
  const inRange = (q: RangeQuery) =>
    sorted().filter(
      (r) =>
        r.thing === q.thing &&
        (q.nodeId === undefined || r.nodeId === q.nodeId) &&
        (q.field === undefined || r.name === q.field) &&
        r.timestamp >= q.from &&
        r.timestamp <= q.to,
    );
  return {
    rows,
    inserts,
    failNext: (n) => (failures = n),
    async insert(readings) {
      if (failures > 0) {
        failures--;
        throw new Error('disk I/O error');
      }
      inserts.push([...readings]);
      const fresh: StoredReading[] = [];
      for (const r of readings) {
        const key = readingKey(r);
        if (rows.has(key)) continue;
        rows.set(key, r);
        fresh.push(r);
      }
      if (fresh.length) for (const l of listeners) l(fresh);
      return fresh.length;
    },
    async lastTimestamp(thing) {
      let last: number | undefined;
      for (const r of rows.values())
        if (r.thing === thing && (last === undefined || r.timestamp > last)) last = r.timestamp;
      return last;
    },
    async latest(thing) {
      const out = new Map<string, StoredReading>();
      for (const r of sorted()) if (r.thing === thing) out.set(`${r.nodeId}\u0000${r.name}`, r);
      return [...out.values()];
    },
    async range(q) {
      return inRange(q).slice(0, q.limit ?? 100_000);
    },
    async downsample(q) {
      const width = (q.to - q.from + 1) / q.buckets;
      const buckets = new Map<number, Bucket>();
      for (const r of inRange({ thing: q.thing, nodeId: q.nodeId, field: q.field, from: q.from, to: q.to })) {
        const v = Number(r.value);
        if (!Number.isFinite(v)) continue;
        const i = Math.floor((r.timestamp - q.from) / width);
        const b = buckets.get(i) ?? { start: q.from + i * width, min: v, max: v, avg: 0, count: 0 };
        b.min = Math.min(b.min, v);
        b.max = Math.max(b.max, v);
        b.avg = (b.avg * b.count + v) / (b.count + 1);
        b.count++;
        buckets.set(i, b);
      }
      return [...buckets.values()].sort((a, b) => a.start - b.start);
    },
    async prune(before) {
      let n = 0;
      for (const [k, r] of rows) if (r.timestamp < before && rows.delete(k)) n++;
      return n;
    },
    onInsert(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async things() {
      const last = new Map<string, number>();
      for (const r of rows.values()) last.set(r.thing, Math.max(last.get(r.thing) ?? -Infinity, r.timestamp));
      return [...last].map(([thing, lastSeen]) => ({ thing, lastSeen }));
    },
    async close() {
      listeners.clear();
    },
  };
}
