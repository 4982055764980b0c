/**
 * The hub's fleet history: every reading of every thing it ingests, once. One interface with two
 * implementations (SQLite by default, PostgreSQL for big fleets: `store: postgres://…`), run through the same
 * test suite. Asynchronous because PostgreSQL is; the SQLite implementation answers from better-sqlite3 at once.
 *
 * Ingest (src/hub/ingest.ts) writes; the HTTP API, the dashboard and `xiot history` read.
 */
import type { ParsedField } from '../iot/sensordata.js';

/** One stored field value: a XEP-0323 field as parsed from a thing's `<fields/>`, plus whose it is. */
export interface StoredReading extends ParsedField {
  /** The thing's bare JID. */
  thing: string;
}

/** A reading's identity: storing the same one twice keeps one row (ingest is idempotent). */
export const readingKey = (r: Pick<StoredReading, 'thing' | 'nodeId' | 'timestamp' | 'name'>) =>
  `${r.thing}\u0000${r.nodeId}\u0000${r.timestamp}\u0000${r.name}`;

export interface RangeQuery {
  thing: string;
  /** Device (XEP-0323 node) and field; absent = all. */
  nodeId?: string;
  field?: string;
  /** Milliseconds since the epoch, inclusive. */
  from: number;
  to: number;
  /** At most this many, oldest first (the implementation caps it). */
  limit?: number;
}

/** One bucket of a downsampled numeric series: [start, start + width) with its extremes (min/max keep spikes). */
export interface Bucket {
  start: number;
  min: number;
  max: number;
  avg: number;
  count: number;
}

export interface DownsampleQuery {
  thing: string;
  nodeId: string;
  field: string;
  from: number;
  to: number;
  /** How many buckets the range is cut into (e.g. the plot's width in pixels). */
  buckets: number;
}

export interface HistoryStore {
  /** Stores readings; one already stored (same `readingKey`) is skipped. Returns how many were new. */
  insert(readings: readonly StoredReading[]): Promise<number>;
  /** The newest stored timestamp of a thing (where a backfill starts), or undefined if none. */
  lastTimestamp(thing: string): Promise<number | undefined>;
  /** The newest value of each (node, field) of a thing. */
  latest(thing: string): Promise<StoredReading[]>;
  /** Stored readings in a range, oldest first. */
  range(query: RangeQuery): Promise<StoredReading[]>;
  /** A numeric field's range as at most `buckets` min/max/avg buckets (empty buckets are left out). */
  downsample(query: DownsampleQuery): Promise<Bucket[]>;
  /** Deletes readings older than `before` (retention); returns how many. */
  prune(before: number): Promise<number>;
  /**
   * Calls `listener` with the readings each `insert` newly stored (live views: the dashboard's updates, metrics).
   * Returns the function that removes the listener.
   */
  onInsert(listener: (readings: readonly StoredReading[]) => void): () => void;
  /** Things with at least one reading, with their newest timestamp. */
  things(): Promise<{ thing: string; lastSeen: number }[]>;
  close(): Promise<void>;
}
