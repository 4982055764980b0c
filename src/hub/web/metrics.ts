/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4). What the history store can tell is
 * filled here (readings stored since start, how far behind the newest stored reading was when stored, per-thing
 * last seen); what only ingest knows (things online, backfills) comes from its `stats()` once ingest is wired
 * (lead: pass `ingest` to createWebServer; until then those series are left out rather than reported as 0).
 */
import type { HistoryStore } from '../history.js';

/** What ingest reports; every part optional, so that ingest can grow into it. */
export interface IngestStats {
  /** Things whose presence ingest currently sees. */
  thingsOnline?: number;
  /** Readings ingest stored since start (new rows, duplicates not counted). */
  readingsIngested?: number;
  /** Seconds between a reading's timestamp and its storing, latest batch. */
  lagSeconds?: number;
  /** Historical readouts run to fill gaps since start. */
  backfills?: number;
}

export interface IngestStatsSource {
  stats(): IngestStats;
}

/** Prometheus label values: backslash, double quote and newline escaped. */
export const labelValue = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function createMetrics(history: HistoryStore, ingest?: IngestStatsSource, now = Date.now) {
  let stored = 0;
  let lagSeconds: number | undefined;
  const unsubscribe = history.onInsert((readings) => {
    stored += readings.length;
    let newest = -Infinity;
    for (const r of readings) if (r.timestamp > newest) newest = r.timestamp;
    if (Number.isFinite(newest)) lagSeconds = Math.max(0, (now() - newest) / 1000);
  });

  async function render(): Promise<string> {
    const s = ingest?.stats() ?? {};
    const out: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, lines: string[]) => {
      if (lines.length === 0) return;
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric(
      'xiot_hub_things_online',
      'gauge',
      'Things whose presence the hub sees.',
      s.thingsOnline !== undefined ? [`xiot_hub_things_online ${s.thingsOnline}`] : [],
    );
    metric('xiot_hub_readings_ingested_total', 'counter', 'Readings stored since the hub started.', [
      `xiot_hub_readings_ingested_total ${s.readingsIngested ?? stored}`,
    ]);
    const lag = s.lagSeconds ?? lagSeconds;
    metric(
      'xiot_hub_ingest_lag_seconds',
      'gauge',
      'Age of the newest reading of the latest stored batch when it was stored.',
      lag !== undefined ? [`xiot_hub_ingest_lag_seconds ${lag.toFixed(3)}`] : [],
    );
    metric(
      'xiot_hub_backfills_total',
      'counter',
      'Historical readouts run to fill gaps since the hub started.',
      s.backfills !== undefined ? [`xiot_hub_backfills_total ${s.backfills}`] : [],
    );
    const things = await history.things();
    metric(
      'xiot_hub_thing_last_seen_seconds',
      'gauge',
      'Timestamp of the newest stored reading of each thing (Unix seconds).',
      things.map(
        (t) => `xiot_hub_thing_last_seen_seconds{thing="${labelValue(t.thing)}"} ${t.lastSeen / 1000}`,
      ),
    );
    return `${out.join('\n')}\n`;
  }

  return { render, close: unsubscribe };
}
