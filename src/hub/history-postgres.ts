/**
 * The fleet history in PostgreSQL (the `pg` Pool), for fleets that outgrow one SQLite file: the same tables as
 * history-sqlite.ts (described in history-common.ts) and the same test suite. The schema is created on open.
 *
 * Several hubs may share one database: inserts take a shared advisory lock and read the raw cutoff inside
 * their transaction; a prune takes the lock exclusively to move the cutoff, so a reading it is about to fold
 * can never be inserted again behind its back. Text is ordered with COLLATE "C" (bytewise), as SQLite orders
 * it, whatever locale the database was created with. Rows of one insert go in (series, ts) order, so two inserts
 * of overlapping batches lock rows in the same order and cannot deadlock.
 */
import pg from 'pg';
import { IotError } from '../core/errors.js';
import {
  bucketWidth,
  type BucketRow,
  checkDownsample,
  checkRange,
  checkReadings,
  checkRetention,
  DEFAULT_RETENTION,
  type HistoryDatabase,
  insertListeners,
  mergeBucketRows,
  joinFlags,
  numericValue,
  rangeLimit,
  READING_COLUMNS,
  type ReadingRow,
  seriesCache,
  seriesKey,
  toBuckets,
  toStoredReading,
} from './history-common.js';
import type { HistoryStoreOptions } from './history-sqlite.js';
import type { StoredReading } from './history.js';

/** pg_advisory_xact_lock key of the raw cutoff ("xiothist"). */
const CUTOFF_LOCK = 0x78696f74;
/** Rows per INSERT statement (arrays passed through unnest: no limit on parameters, but bounded memory). */
const CHUNK = 5_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series (
  id SERIAL PRIMARY KEY,
  thing TEXT NOT NULL,
  node TEXT NOT NULL,
  field TEXT NOT NULL,
  UNIQUE (thing, node, field)
);
CREATE TABLE IF NOT EXISTS readings (
  series INTEGER NOT NULL,
  ts BIGINT NOT NULL,
  num DOUBLE PRECISION,
  value TEXT NOT NULL,
  type TEXT NOT NULL,
  unit TEXT,
  data_type TEXT,
  flags TEXT,
  qos TEXT,
  writable BOOLEAN,
  PRIMARY KEY (series, ts) INCLUDE (num)
);
CREATE TABLE IF NOT EXISTS aggregates (
  series INTEGER NOT NULL,
  start BIGINT NOT NULL,
  min DOUBLE PRECISION NOT NULL,
  max DOUBLE PRECISION NOT NULL,
  sum DOUBLE PRECISION NOT NULL,
  count BIGINT NOT NULL,
  PRIMARY KEY (series, start)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const SERIES_LAST = `coalesce((SELECT max(ts) FROM readings WHERE series = s.id),
  (SELECT max(start) FROM aggregates WHERE series = s.id))`;

/** The URL with its password replaced: what errors and logs may show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/** What to do about a failed connection, by PostgreSQL error code or socket error. */
function connectHint(err: { code?: string }, url: URL): string {
  const db = decodeURIComponent(url.pathname.slice(1)) || '(the user name)';
  const user = decodeURIComponent(url.username) || '(your login name)';
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return `check that PostgreSQL runs and listens on ${url.host || 'localhost:5432'} (apt-get install postgresql; listen_addresses, port)`;
    case '3D000':
      return `create the database: sudo -u postgres createdb -O ${user} ${db}`;
    case '28P01':
    case '28000':
      return `check the user and password in the URL, and pg_hba.conf; create the user with: sudo -u postgres createuser -P ${user}`;
    case '42501':
      return `the user ${user} may not create tables: sudo -u postgres psql -c 'GRANT ALL ON SCHEMA public TO ${user}' ${db}`;
    default:
      return 'check the URL (postgres://user:password@host:port/database) and that the server accepts it';
  }
}

/** int8 (timestamps, counts) as JS numbers: milliseconds since the epoch fit in a double exactly. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export async function openPostgresHistoryStore(
  url: string,
  options: HistoryStoreOptions = {},
): Promise<HistoryDatabase> {
  const retention = checkRetention({ ...DEFAULT_RETENTION, ...options.retention });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new IotError(
      'IOT_ERR_CONFIG',
      `fleet history: ${redactUrl(url)} is not a URL; expected postgres://user:password@host:5432/database`,
    );
  }
  const pool = new pg.Pool({ connectionString: url, max: 4, types: TYPES, connectionTimeoutMillis: 10_000 });
  // An idle client that loses its server emits 'error' on the pool: without a listener it would kill the hub.
  pool.on('error', (err) =>
    options.log?.warn({ err: err.message }, 'fleet history: PostgreSQL connection lost'),
  );
  try {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [CUTOFF_LOCK]); // two hubs creating the schema at once
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    const e = err as { code?: string; message: string };
    throw new IotError(
      'IOT_ERR_STORE',
      `cannot open the fleet history at ${redactUrl(url)}: ${e.message}; ${connectHint(e, parsed)}`,
      { cause: err },
    );
  }
  const listeners = insertListeners((err) =>
    options.log?.warn({ err }, 'fleet history: an onInsert listener failed'),
  );

  const seriesIds = seriesCache();
  /** Series ids of the readings, creating the series not seen yet (autocommitted: harmless if unused). */
  const resolveSeries = async (readings: readonly StoredReading[]) => {
    const missing = new Map<string, [string, string, string]>();
    for (const r of readings)
      if (seriesIds.get(r.thing, r.nodeId, r.name) === undefined)
        missing.set(seriesKey(r.thing, r.nodeId, r.name), [r.thing, r.nodeId, r.name]);
    if (missing.size === 0) return;
    const cols = [0, 1, 2].map((i) => [...missing.values()].map((m) => m[i]));
    await pool.query(
      `INSERT INTO series (thing, node, field) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT DO NOTHING`,
      cols,
    );
    const { rows } = await pool.query<{ id: number; thing: string; node: string; field: string }>(
      `SELECT s.id, s.thing, s.node, s.field FROM series s
       JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (thing, node, field)
         ON s.thing = k.thing AND s.node = k.node AND s.field = k.field`,
      cols,
    );
    for (const r of rows) seriesIds.set(r.thing, r.node, r.field, r.id);
  };
  const seriesOf = async (thing: string, node: string, field: string) => {
    if (seriesIds.get(thing, node, field) === undefined) {
      const { rows } = await pool.query<{ id: number }>(
        'SELECT id FROM series WHERE thing = $1 AND node = $2 AND field = $3',
        [thing, node, field],
      );
      if (rows[0]) seriesIds.set(thing, node, field, rows[0].id);
    }
    return seriesIds.get(thing, node, field);
  };
  const idOf = (r: StoredReading) => seriesIds.get(r.thing, r.nodeId, r.name) as number;

  let closed = false;
  const open = () => {
    if (closed) throw new IotError('IOT_ERR_STOPPED', 'the fleet history store is closed');
  };

  /** Runs `fn` in a transaction on one client; `first` (no parameters) goes with BEGIN in one round trip. */
  const transaction = async <T>(fn: (c: pg.PoolClient) => Promise<T>, first = ''): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query(`BEGIN;${first}`);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };
  const readCutoff = async (c: pg.PoolClient | pg.Pool) => {
    const { rows } = await c.query<{ value: string }>("SELECT value FROM meta WHERE key = 'raw_cutoff'");
    return rows[0] ? Number(rows[0].value) : Number.NEGATIVE_INFINITY;
  };

  const insert = async (readings: readonly StoredReading[]): Promise<StoredReading[]> => {
    if (readings.length === 0) return [];
    await resolveSeries(readings);
    const sorted = readings
      .map((r) => ({ r, series: idOf(r) }))
      .sort((a, b) => a.series - b.series || a.r.timestamp - b.r.timestamp);
    // The same reading twice in one batch: only the first goes in (RETURNING would name both as new).
    const unique = sorted.filter(
      (x, i) => i === 0 || x.series !== sorted[i - 1]?.series || x.r.timestamp !== sorted[i - 1]?.r.timestamp,
    );
    const byKey = new Map(unique.map((x) => [`${x.series}:${x.r.timestamp}`, x.r]));
    const fresh = new Set<StoredReading>();
    // The lock is its own statement, so the INSERT's snapshot (a new one per statement) sees the cutoff
    // of any prune that held the lock before us.
    await transaction(async (c) => {
      for (let i = 0; i < unique.length; i += CHUNK) {
        const chunk = unique.slice(i, i + CHUNK);
        const result = await c.query<{ series: number; ts: number }>(
          `INSERT INTO readings (series, ts, num, value, type, unit, data_type, flags, qos, writable)
           SELECT * FROM unnest($1::int[], $2::int8[], $3::float8[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::bool[])
             AS u (series, ts, num, value, type, unit, data_type, flags, qos, writable)
           -- Older than the raw cutoff: already folded into an aggregate (or about to be); never twice.
           WHERE u.ts >= coalesce((SELECT value::int8 FROM meta WHERE key = 'raw_cutoff'), ${Number.MIN_SAFE_INTEGER})
           ON CONFLICT DO NOTHING RETURNING series, ts`,
          [
            chunk.map((x) => x.series),
            chunk.map((x) => x.r.timestamp),
            chunk.map((x) => numericValue(x.r)),
            chunk.map((x) => x.r.value),
            chunk.map((x) => x.r.type),
            chunk.map((x) => x.r.unit ?? null),
            chunk.map((x) => x.r.dataType ?? null),
            chunk.map((x) => joinFlags(x.r.flags)),
            chunk.map((x) => joinFlags(x.r.qos)),
            chunk.map((x) => x.r.writable ?? null),
          ],
        );
        for (const row of result.rows) fresh.add(byKey.get(`${row.series}:${row.ts}`) as StoredReading);
      }
    }, `SELECT pg_advisory_xact_lock_shared(${CUTOFF_LOCK})`);
    // In the order given, as SQLite reports them.
    return readings.filter((r) => fresh.has(r));
  };

  const seriesList = async () =>
    (await pool.query<{ id: number }>('SELECT id FROM series ORDER BY id')).rows.map((r) => r.id);

  const prune = async (before: number): Promise<number> => {
    open();
    checkRange({ from: before, to: before }, 'prune');
    // The cutoff moves first, under the exclusive lock: inserts in flight finish, later ones see it.
    const effective = await transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CUTOFF_LOCK]);
      const cutoff = Math.max(await readCutoff(c), before);
      await c.query(
        `INSERT INTO meta (key, value) VALUES ('raw_cutoff', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(cutoff)],
      );
      return cutoff;
    });
    let deleted = 0;
    for (const series of await seriesList()) {
      if (closed) break;
      deleted += await transaction(async (c) => {
        await c.query(
          `INSERT INTO aggregates (series, start, min, max, sum, count)
           SELECT series, ts - (((ts % $3::int8) + $3::int8) % $3::int8) AS bucket, min(num), max(num), sum(num), count(*)
           FROM readings WHERE series = $1 AND ts < $2 AND num IS NOT NULL GROUP BY series, bucket
           ON CONFLICT (series, start) DO UPDATE SET min = LEAST(aggregates.min, excluded.min),
             max = GREATEST(aggregates.max, excluded.max), sum = aggregates.sum + excluded.sum,
             count = aggregates.count + excluded.count`,
          [series, effective, retention.resolutionMs],
        );
        return (await c.query('DELETE FROM readings WHERE series = $1 AND ts < $2', [series, effective]))
          .rowCount as number;
      });
    }
    return deleted;
  };

  return {
    kind: 'postgres',
    retention,
    async insert(readings) {
      open();
      checkReadings(readings);
      let fresh: StoredReading[];
      try {
        fresh = await insert(readings);
      } catch (err) {
        throw new IotError('IOT_ERR_STORE', `fleet history: insert failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      listeners.emit(fresh);
      return fresh.length;
    },
    async lastTimestamp(thing) {
      open();
      const { rows } = await pool.query<{ last: number | null }>(
        `SELECT max(${SERIES_LAST}) AS last FROM series s WHERE s.thing = $1`,
        [thing],
      );
      return rows[0]?.last ?? undefined;
    },
    async latest(thing) {
      open();
      const { rows } = await pool.query<ReadingRow>(
        `SELECT ${READING_COLUMNS} FROM series s
         JOIN readings r ON r.series = s.id AND r.ts = (SELECT max(ts) FROM readings WHERE series = s.id)
         WHERE s.thing = $1 ORDER BY s.node COLLATE "C", s.field COLLATE "C"`,
        [thing],
      );
      return rows.map(toStoredReading);
    },
    async range(q) {
      open();
      checkRange(q, 'range');
      const { rows } = await pool.query<ReadingRow>(
        `SELECT ${READING_COLUMNS} FROM series s JOIN readings r ON r.series = s.id
         WHERE s.thing = $1 AND ($2::text IS NULL OR s.node = $2) AND ($3::text IS NULL OR s.field = $3)
           AND r.ts >= $4 AND r.ts <= $5
         ORDER BY r.ts, s.node COLLATE "C", s.field COLLATE "C" LIMIT $6`,
        [
          q.thing,
          q.nodeId ?? null,
          q.field ?? null,
          Math.ceil(q.from),
          Math.floor(q.to),
          rangeLimit(q.limit),
        ],
      );
      return rows.map(toStoredReading);
    },
    async downsample(q) {
      open();
      checkDownsample(q);
      const from = Math.ceil(q.from);
      const to = Math.floor(q.to);
      if (to < from) return [];
      const width = bucketWidth({ ...q, from, to });
      const series = await seriesOf(q.thing, q.nodeId, q.field);
      if (series === undefined) return [];
      // Raw readings and aggregates hold disjoint readings (folded and deleted in one transaction), so both,
      // bucketed alike, make the whole series. The raw part is one index range scan per bucket (LATERAL):
      // no sort and no hash whatever the planner believes, so it stays fast right after a bulk insert,
      // when the statistics still say the table is empty (one GROUP BY then sorted 604,800 rows on disk:
      // ~450 ms against ~150 ms). The aggregates are 1/60 as many at most: one GROUP BY.
      const params = [series, from, to, width];
      const [raw, aggregated] = await Promise.all([
        pool.query<BucketRow>(
          `SELECT g.b, r.mn, r.mx, r.sm, r.n FROM generate_series(0::int8, ($3::int8 - $2::int8) / $4::int8) AS g (b)
           CROSS JOIN LATERAL (
             SELECT min(num) AS mn, max(num) AS mx, sum(num) AS sm, count(num) AS n FROM readings
             WHERE series = $1 AND ts >= $2::int8 + g.b * $4::int8 AND ts < $2::int8 + (g.b + 1) * $4::int8
               AND ts <= $3::int8
           ) AS r WHERE r.n > 0`,
          params,
        ),
        pool.query<BucketRow>(
          `SELECT (start - $2::int8) / $4::int8 AS b, min(min) AS mn, max(max) AS mx, sum(sum) AS sm,
             sum(count) AS n FROM aggregates WHERE series = $1 AND start >= $2::int8 AND start <= $3::int8
           GROUP BY b`,
          params,
        ),
      ]);
      const rows = new Map<number, BucketRow>();
      for (const r of [...aggregated.rows, ...raw.rows]) {
        const b = Number(r.b);
        const prev = rows.get(b);
        rows.set(b, prev ? mergeBucketRows(prev, { ...r, b }) : { ...r, b });
      }
      return toBuckets(
        [...rows.values()].sort((x, y) => x.b - y.b),
        from,
        width,
      );
    },
    prune,
    async applyRetention(now = Date.now()) {
      const raw = await prune(now - retention.rawMs);
      let aggregates = 0;
      for (const series of await seriesList()) {
        if (closed) break;
        const r = await pool.query('DELETE FROM aggregates WHERE series = $1 AND start < $2', [
          series,
          now - retention.aggregatesMs,
        ]);
        aggregates += r.rowCount ?? 0;
      }
      return { raw, aggregates };
    },
    onInsert: (listener) => listeners.add(listener),
    async things() {
      open();
      const { rows } = await pool.query<{ thing: string; lastSeen: number }>(
        `SELECT thing, max(${SERIES_LAST}) AS "lastSeen" FROM series s GROUP BY thing
         HAVING max(${SERIES_LAST}) IS NOT NULL ORDER BY thing COLLATE "C"`,
      );
      return rows;
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
