/**
 * An in-memory HistoryStore for unit tests of what reads the history (the dashboard's API), until the SQLite and
 * PostgreSQL stores are merged. Same contract: idempotent insert, onInsert with the new readings only.
 */
import { type Bucket, type HistoryStore, readingKey, type StoredReading } from '../../src/hub/history.js';

export function memoryHistory(): HistoryStore & { readonly rows: StoredReading[] } {
  const rows = new Map<string, StoredReading>();
  const listeners = new Set<(r: readonly StoredReading[]) => void>();
  const sorted = () => [...rows.values()].sort((a, b) => a.timestamp - b.timestamp);
  return {
    get rows() {
      return sorted();
    },
    async insert(readings) {
      const fresh: StoredReading[] = [];
      for (const r of readings) {
        const k = readingKey(r);
        if (rows.has(k)) continue;
        rows.set(k, r);
        fresh.push(r);
      }
      if (fresh.length) for (const l of listeners) l(fresh);
      return fresh.length;
    },
    async lastTimestamp(thing) {
      const ts = sorted().filter((r) => r.thing === thing);
      return ts.at(-1)?.timestamp;
    },
    async latest(thing) {
      const out = new Map<string, StoredReading>();
      for (const r of sorted()) if (r.thing === thing) out.set(`${r.nodeId}\u0000${r.name}`, r);
      return [...out.values()];
    },
    async range(q) {
      return sorted()
        .filter(
          (r) =>
            r.thing === q.thing &&
            (q.nodeId === undefined || r.nodeId === q.nodeId) &&
            (q.field === undefined || r.name === q.field) &&
            r.timestamp >= q.from &&
            r.timestamp <= q.to,
        )
        .slice(0, q.limit ?? 10_000);
    },
    async downsample(q) {
      const width = (q.to - q.from) / q.buckets;
      const buckets = new Map<number, Bucket>();
      for (const r of sorted()) {
        if (r.thing !== q.thing || r.nodeId !== q.nodeId || r.name !== q.field) continue;
        if (r.timestamp < q.from || r.timestamp > q.to) continue;
        const v = Number(r.value);
        if (!Number.isFinite(v)) continue;
        const i = Math.min(q.buckets - 1, Math.floor((r.timestamp - q.from) / width));
        const b = buckets.get(i);
        if (!b) buckets.set(i, { start: q.from + i * width, min: v, max: v, avg: v, count: 1 });
        else {
          b.min = Math.min(b.min, v);
          b.max = Math.max(b.max, v);
          b.avg = (b.avg * b.count + v) / (b.count + 1);
          b.count++;
        }
      }
      return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
    },
    async prune(before) {
      let n = 0;
      for (const [k, r] of rows)
        if (r.timestamp < before) {
          rows.delete(k);
          n++;
        }
      return n;
    },
    onInsert(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async things() {
      const last = new Map<string, number>();
      for (const r of rows.values()) last.set(r.thing, Math.max(last.get(r.thing) ?? -Infinity, r.timestamp));
      return [...last.entries()].map(([thing, lastSeen]) => ({ thing, lastSeen }));
    },
    async close() {
      rows.clear();
    },
  };
}

/** A numeric reading of `thing` (defaults for the rest). */
export function reading(
  thing: string,
  timestamp: number,
  value: number | string,
  extra: Partial<StoredReading> = {},
): StoredReading {
  return {
    thing,
    nodeId: 'sensor',
    name: 'temperature',
    timestamp,
    type: 'numeric',
    value: String(value),
    unit: '°C',
    flags: ['momentary'],
    qos: ['automaticReadout'],
    ...extra,
  };
}
