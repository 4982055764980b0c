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
  joinFlags,
  numericValue,
  rangeLimit,
  READING_COLUMNS,
  type ReadingRow,
  seriesKey,
  toBuckets,
  toStoredReading,
  uniqueReadings,
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
      `cannot open the fleet history at ${redactUrl(url)}: ${e.message}; ${connectHint(e, new URL(url))}`,
      { cause: err },
    );
  }
  const listeners = insertListeners((err) =>
    options.log?.warn({ err }, 'fleet history: an onInsert listener failed'),
  );

  const seriesIds = new Map<string, number>();
  /** Series ids of the readings, creating the series not seen yet (autocommitted: harmless if unused). */
  const resolveSeries = async (readings: readonly StoredReading[]) => {
    const missing = new Map<string, [string, string, string]>();
    for (const r of readings) {
      const key = seriesKey(r.thing, r.nodeId, r.name);
      if (!seriesIds.has(key)) missing.set(key, [r.thing, r.nodeId, r.name]);
    }
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
    for (const r of rows) seriesIds.set(seriesKey(r.thing, r.node, r.field), r.id);
  };
  const idOf = (r: StoredReading) => seriesIds.get(seriesKey(r.thing, r.nodeId, r.name)) as number;

  let closed = false;
  const open = () => {
    if (closed) throw new IotError('IOT_ERR_STOPPED', 'the fleet history store is closed');
  };

  /** Runs `fn` in a transaction on one client. */
  const transaction = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
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
    const unique = uniqueReadings(readings);
    if (unique.length === 0) return [];
    await resolveSeries(unique);
    const sorted = unique
      .map((r) => ({ r, series: idOf(r) }))
      .sort((a, b) => a.series - b.series || a.r.timestamp - b.r.timestamp);
    const fresh = new Set<string>();
    await transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock_shared($1)', [CUTOFF_LOCK]);
      const before = await readCutoff(c);
      // Older than the raw retention: already folded into an aggregate, or about to be; never counted twice.
      const rows = sorted.filter((x) => x.r.timestamp >= before);
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const result = await c.query<{ series: number; ts: number }>(
          `INSERT INTO readings (series, ts, num, value, type, unit, data_type, flags, qos, writable)
           SELECT * FROM unnest($1::int[], $2::int8[], $3::float8[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::bool[])
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
        for (const row of result.rows) fresh.add(`${row.series}:${row.ts}`);
      }
    });
    // In the order given, as SQLite reports them.
    return unique.filter((r) => fresh.has(`${idOf(r)}:${r.timestamp}`));
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
      // Raw readings and aggregates hold disjoint readings (folded and deleted in one transaction), so their
      // union, bucketed alike, is the whole series.
      const { rows } = await pool.query<BucketRow>(
        `WITH s AS (SELECT id FROM series WHERE thing = $1 AND node = $2 AND field = $3)
         SELECT b, min(mn) AS mn, max(mx) AS mx, sum(sm) AS sm, sum(n) AS n FROM (
           SELECT (ts - $4::int8) / $6::int8 AS b, num AS mn, num AS mx, num AS sm, 1 AS n FROM readings
           WHERE series = (SELECT id FROM s) AND ts >= $4::int8 AND ts <= $5::int8 AND num IS NOT NULL
           UNION ALL
           SELECT (start - $4::int8) / $6::int8, min, max, sum, count FROM aggregates
           WHERE series = (SELECT id FROM s) AND start >= $4 AND start <= $5
         ) u GROUP BY b ORDER BY b`,
        [q.thing, q.nodeId, q.field, from, to, width],
      );
      return toBuckets(rows, from, width);
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
