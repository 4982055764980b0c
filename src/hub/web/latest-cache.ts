/**
 * The newest value of each (node, field) per thing, for the fleet page: asked of the history store once per thing,
 * then kept current from `onInsert`. The page lists a thousand things; a thousand `latest()` queries per view
 * would cost PostgreSQL round trips each time (bench "dashboard"). Bounded: at most `maxThings` things are kept
 * (then it starts over), and only things someone looked at.
 */
import type { HistoryStore, StoredReading } from '../history.js';

const keyOf = (r: StoredReading) => `${r.nodeId}\u0000${r.name}`;

export function createLatestCache(history: HistoryStore, maxThings = 50_000) {
  const cache = new Map<string, Map<string, StoredReading>>();
  const loading = new Map<string, Promise<Map<string, StoredReading>>>();
  const unsubscribe = history.onInsert((readings) => {
    for (const r of readings) {
      const fields = cache.get(r.thing);
      if (!fields) continue; // loaded from the store when first asked for
      const old = fields.get(keyOf(r));
      if (!old || old.timestamp <= r.timestamp) fields.set(keyOf(r), r);
    }
  });

  async function load(thing: string): Promise<Map<string, StoredReading>> {
    const cached = cache.get(thing);
    if (cached) return cached;
    let pending = loading.get(thing);
    if (!pending) {
      pending = history.latest(thing).then((rows) => {
        if (cache.size >= maxThings) cache.clear();
        // Readings inserted while the query ran are in the store's answer or arrive through onInsert after.
        const fields = cache.get(thing) ?? new Map<string, StoredReading>();
        for (const r of rows) {
          const old = fields.get(keyOf(r));
          if (!old || old.timestamp <= r.timestamp) fields.set(keyOf(r), r);
        }
        cache.set(thing, fields);
        return fields;
      });
      loading.set(thing, pending);
      pending.finally(() => loading.delete(thing)).catch(() => undefined);
    }
    return pending;
  }

  return {
    /** The thing's newest values, by node and field. */
    async latest(thing: string): Promise<StoredReading[]> {
      return [...(await load(thing)).values()];
    },
    close: unsubscribe,
  };
}
