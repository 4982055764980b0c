/**
 * What the two fleet history stores (history-sqlite.ts, history-postgres.ts) share: the checks every reading
 * passes before it is stored, how a reading becomes a row and back, the bucket arithmetic of `downsample`, the
 * retention policy and the onInsert listeners. Both stores keep the same tables:
 *
 *   series     (id, thing, node, field)             one row per (thing, node, field): readings repeat an integer
 *   readings   (series, ts, num, value, type, unit, data_type, flags, qos, writable)
 *              primary key (series, ts) = the reading's identity (readingKey): idempotent insert, range scans
 *              and downsampling read one contiguous index range; `num` is the value as a double for numeric,
 *              int, long (and boolean as 0/1), NULL otherwise, so min/max/avg run in SQL
 *   aggregates (series, start, min, max, sum, count) per `resolution`-wide bucket (aligned to the epoch): what
 *              is left of numeric readings older than the raw retention
 *   meta       (key, value): `raw_cutoff`, the time before which raw readings were folded into aggregates;
 *              a reading older than it is not stored again (it would be counted twice in its aggregate)
 */
import { IotError } from '../core/errors.js';
import type { ParsedField } from '../iot/sensordata.js';
import { FIELD_TYPE_FLAGS, QOS_FLAGS, VALUE_TYPES } from '../model/fields.js';
import type { Bucket, DownsampleQuery, HistoryStore, RangeQuery, StoredReading } from './history.js';

/** Bounds on what one reading may carry (a peer's `<fields/>` must not fill the disk with one value). */
export const HISTORY_LIMITS = {
  /** A bare JID is at most 3 × 1023 bytes (RFC 7622). */
  thing: 3071,
  nodeId: 1024,
  name: 1024,
  value: 16_384,
  unit: 256,
  dataType: 256,
  /** `range` returns at most this many readings, whatever `limit` asks. */
  rangeRows: 100_000,
  /** `downsample` cuts a range into at most this many buckets (a plot's width in pixels, with room). */
  buckets: 10_000,
} as const;

/** Timestamps a JavaScript Date can hold (±8.64e15 ms). */
const MAX_TIME = 8.64e15;

/** What a store keeps and for how long (hub config `history.retention`). */
export interface RetentionPolicy {
  /** Raw readings are kept this long (ms), then folded into aggregates. */
  rawMs: number;
  /** Aggregates are kept this long (ms, counted like rawMs from now). */
  aggregatesMs: number;
  /** Width of one aggregate bucket (ms). */
  resolutionMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  rawMs: 30 * 86_400_000,
  aggregatesMs: 365 * 86_400_000,
  resolutionMs: 60_000,
};

/** The stores as openHistoryStore returns them: the shared interface plus retention. */
export interface HistoryDatabase extends HistoryStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly retention: RetentionPolicy;
  /**
   * Applies the retention policy as of `now`: raw readings older than now − rawMs are folded into aggregates
   * and deleted (prune), aggregates older than now − aggregatesMs are deleted. The hub calls it periodically.
   */
  applyRetention(now?: number): Promise<{ raw: number; aggregates: number }>;
}

/** A reading the store refuses (bad timestamp, oversized string, unknown type): nothing of its batch is stored. */
export class InvalidReadingError extends IotError {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super('IOT_ERR_STORE', `fleet history: reading ${index} refused: ${reason}`);
  }
}

const TYPES = new Set<string>(VALUE_TYPES);
const FLAGS = new Set<string>(FIELD_TYPE_FLAGS);
const QOS = new Set<string>(QOS_FLAGS);

function checkString(what: string, s: unknown, max: number, allowEmpty: boolean): string | undefined {
  if (typeof s !== 'string') return `${what} is not a string`;
  if (!allowEmpty && s.length === 0) return `${what} is empty`;
  if (s.length > max) return `${what} is ${s.length} characters long (at most ${max})`;
  // PostgreSQL text cannot hold NUL; refused by both stores alike (and the series key uses it as separator).
  if (s.includes('\u0000')) return `${what} contains a NUL character`;
  return undefined;
}

/** Why `r` cannot be stored, or undefined when it can (ingest may filter a batch with it first). */
export function checkReading(r: StoredReading): string | undefined {
  if (r === null || typeof r !== 'object') return 'not an object';
  if (typeof r.timestamp !== 'number' || !Number.isFinite(r.timestamp))
    return `timestamp ${String(r.timestamp)} is not a finite number (milliseconds since the epoch)`;
  if (!Number.isInteger(r.timestamp)) return `timestamp ${r.timestamp} is not a whole number of milliseconds`;
  if (Math.abs(r.timestamp) > MAX_TIME) return `timestamp ${r.timestamp} is outside the range of dates`;
  const bad =
    checkString('thing', r.thing, HISTORY_LIMITS.thing, false) ??
    checkString('nodeId', r.nodeId, HISTORY_LIMITS.nodeId, true) ??
    checkString('field name', r.name, HISTORY_LIMITS.name, false) ??
    checkString('value', r.value, HISTORY_LIMITS.value, true) ??
    (r.unit === undefined ? undefined : checkString('unit', r.unit, HISTORY_LIMITS.unit, true)) ??
    (r.dataType === undefined
      ? undefined
      : checkString('dataType', r.dataType, HISTORY_LIMITS.dataType, true));
  if (bad) return bad;
  if (!TYPES.has(r.type)) return `type ${JSON.stringify(String(r.type).slice(0, 40))} is not a XEP-0323 type`;
  if (!Array.isArray(r.flags) || !r.flags.every((f) => FLAGS.has(f))) return 'flags has an unknown flag';
  if (!Array.isArray(r.qos) || !r.qos.every((q) => QOS.has(q))) return 'qos has an unknown flag';
  return undefined;
}

/** Throws InvalidReadingError for the first reading that cannot be stored. */
export function checkReadings(readings: readonly StoredReading[]): void {
  if (!Array.isArray(readings)) throw new InvalidReadingError(0, 'expected an array of readings');
  readings.forEach((r, i) => {
    const why = checkReading(r);
    if (why) throw new InvalidReadingError(i, why);
  });
}

/** The series key (thing, node, field) as one string. */
export const seriesKey = (thing: string, nodeId: string, name: string) =>
  `${thing}\u0000${nodeId}\u0000${name}`;

/** Series ids by thing, node and field: nested maps, no key string built per reading (it showed in profiles). */
export function seriesCache() {
  let things = new Map<string, Map<string, Map<string, number>>>();
  return {
    get: (thing: string, node: string, field: string) => things.get(thing)?.get(node)?.get(field),
    set(thing: string, node: string, field: string, id: number) {
      let nodes = things.get(thing);
      if (!nodes) things.set(thing, (nodes = new Map()));
      let fields = nodes.get(node);
      if (!fields) nodes.set(node, (fields = new Map()));
      fields.set(field, id);
    },
    clear: () => void (things = new Map()),
  };
}

/** The value as a number for SQL aggregates: numeric, int, long and boolean (0/1); null for the rest. */
export function numericValue(r: Pick<ParsedField, 'type' | 'value'>): number | null {
  switch (r.type) {
    case 'numeric':
    case 'int':
    case 'long': {
      const n = r.value.trim() === '' ? Number.NaN : Number(r.value);
      return Number.isFinite(n) ? n : null;
    }
    case 'boolean':
      return r.value === 'true' || r.value === '1' ? 1 : r.value === 'false' || r.value === '0' ? 0 : null;
    default:
      return null;
  }
}

/** A row of `readings` joined with its series, as both stores select it. */
export interface ReadingRow {
  thing: string;
  node: string;
  field: string;
  ts: number;
  value: string;
  type: string;
  unit: string | null;
  data_type: string | null;
  flags: string | null;
  qos: string | null;
  writable: number | boolean | null;
}

export const READING_COLUMNS =
  's.thing, s.node, s.field, r.ts, r.value, r.type, r.unit, r.data_type, r.flags, r.qos, r.writable';

export function toStoredReading(row: ReadingRow): StoredReading {
  return {
    thing: row.thing,
    nodeId: row.node,
    timestamp: Number(row.ts),
    name: row.field,
    type: row.type as StoredReading['type'],
    value: row.value,
    ...(row.unit !== null ? { unit: row.unit } : {}),
    ...(row.data_type !== null ? { dataType: row.data_type } : {}),
    flags: (row.flags ? row.flags.split(',') : []) as StoredReading['flags'],
    qos: (row.qos ? row.qos.split(',') : []) as StoredReading['qos'],
    ...(row.writable !== null ? { writable: row.writable === true || row.writable === 1 } : {}),
  };
}

/** Flags and QoS as stored: comma-separated in the order given, NULL when none. */
export const joinFlags = (flags: readonly string[]) => (flags.length ? flags.join(',') : null);

/** The bucket width of a downsample: `buckets` buckets of whole milliseconds cover [from, to]. */
export function bucketWidth(q: DownsampleQuery): number {
  return Math.max(1, Math.ceil((q.to - q.from + 1) / q.buckets));
}

export function checkRange(q: Pick<RangeQuery, 'from' | 'to'>, what: string): void {
  for (const k of ['from', 'to'] as const)
    if (typeof q[k] !== 'number' || !Number.isFinite(q[k]) || Math.abs(q[k]) > MAX_TIME)
      throw new IotError('IOT_ERR_STORE', `fleet history ${what}: ${k} is not a time in milliseconds`);
}

export function checkDownsample(q: DownsampleQuery): void {
  checkRange(q, 'downsample');
  if (!Number.isInteger(q.buckets) || q.buckets < 1 || q.buckets > HISTORY_LIMITS.buckets)
    throw new IotError(
      'IOT_ERR_STORE',
      `fleet history downsample: buckets must be a whole number from 1 to ${HISTORY_LIMITS.buckets}`,
    );
}

/** Rows as the downsample queries return them (one per non-empty bucket, ordered by bucket index). */
export interface BucketRow {
  b: number;
  mn: number;
  mx: number;
  sm: number;
  n: number;
}

export const mergeBucketRows = (a: BucketRow, b: BucketRow): BucketRow => ({
  b: a.b,
  mn: Math.min(a.mn, b.mn),
  mx: Math.max(a.mx, b.mx),
  sm: a.sm + b.sm,
  n: Number(a.n) + Number(b.n),
});

export const toBuckets = (rows: readonly BucketRow[], from: number, width: number): Bucket[] =>
  rows.map((r) => {
    const count = Number(r.n);
    return { start: from + Number(r.b) * width, min: r.mn, max: r.mx, avg: r.sm / count, count };
  });

export function rangeLimit(limit: number | undefined): number {
  if (limit === undefined) return HISTORY_LIMITS.rangeRows;
  if (!Number.isFinite(limit) || limit < 0) return 0;
  return Math.min(Math.floor(limit), HISTORY_LIMITS.rangeRows);
}

/** The listeners of onInsert; a throwing listener does not stop the others or fail the insert. */
export function insertListeners(onError: (err: unknown) => void) {
  const listeners = new Set<(readings: readonly StoredReading[]) => void>();
  return {
    add(listener: (readings: readonly StoredReading[]) => void): () => void {
      const entry = (readings: readonly StoredReading[]) => listener(readings);
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    emit(readings: readonly StoredReading[]): void {
      if (readings.length === 0) return;
      for (const l of listeners) {
        try {
          l(readings);
        } catch (err) {
          onError(err);
        }
      }
    },
  };
}

export function checkRetention(p: RetentionPolicy): RetentionPolicy {
  if (!(
    p.rawMs > 0 &&
    p.aggregatesMs >= p.rawMs &&
    p.resolutionMs >= 1000 &&
    Number.isInteger(p.resolutionMs)
  ))
    throw new IotError(
      'IOT_ERR_CONFIG',
      'fleet history retention: raw must be positive, aggregates at least as long as raw, resolution at least 1s',
    );
  return p;
}
