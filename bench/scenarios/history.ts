/**
 * The hub's fleet history (issue 16): one field's week at 1 Hz (604,800 points) inserted in batches of 1,000
 * (an ingest or backfill batch), then downsampled to 1,000 buckets (a 1,000-pixel plot), in SQLite and in
 * PostgreSQL (a throwaway server with fsync on, as in production). Baselines, measured on the same rows in the
 * same run: for inserts, plain INSERTs of the same rows and batches into a table of the same shape (no checks,
 * no series lookup, no conflict handling: the floor of what the store adds); for downsampling, `SELECT count(*)`
 * over the same rows (the floor of any query that reads them all).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { MissingDependencyError } from '../../src/core/errors.js';
import { type PostgresServer, startPostgres } from '../../src/devtools/postgres.js';
import type { HistoryDatabase } from '../../src/hub/history-common.js';
import { openHistoryStore } from '../../src/hub/history-store.js';
import type { StoredReading } from '../../src/hub/history.js';
import { type BenchOptions, median, type Row } from '../lib.js';

const T0 = Date.UTC(2026, 0, 1);
const BATCH = 1_000;
const BUCKETS = 1_000;
const THING = 'bench-sensor@localhost';

function week(points: number): StoredReading[] {
  return Array.from({ length: points }, (_, i) => ({
    thing: THING,
    nodeId: 'dev1',
    name: 'temperature',
    timestamp: T0 + i * 1000,
    type: 'numeric',
    value: (20 + Math.sin(i / 600) * 5 + (i % 9973 === 0 ? 50 : 0)).toFixed(2),
    unit: '°C',
    flags: ['momentary'],
    qos: ['automaticReadout'],
  }));
}

const batches = <T>(xs: readonly T[]) =>
  Array.from({ length: Math.ceil(xs.length / BATCH) }, (_, i) => xs.slice(i * BATCH, (i + 1) * BATCH));

/** Seconds `fn` takes. */
async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

interface Target {
  label: string;
  store: HistoryDatabase;
  /** Plain inserts of the same rows into a table of the same shape. */
  plainInsert(batch: readonly StoredReading[]): Promise<void>;
  /** count(*) over the same rows. */
  count(from: number, to: number): Promise<number>;
  /** What autovacuum does to a table some time after a bulk insert (PostgreSQL only). */
  vacuum?(): Promise<void>;
  close(): Promise<void>;
}

const PLAIN_COLUMNS = `series INTEGER NOT NULL, ts BIGINT NOT NULL, num DOUBLE PRECISION, value TEXT NOT NULL,
  type TEXT NOT NULL, unit TEXT, data_type TEXT, flags TEXT, qos TEXT, writable BOOLEAN, PRIMARY KEY (series, ts)`;

async function sqliteTarget(dir: string): Promise<Target> {
  const path = join(dir, 'history.db');
  const store = await openHistoryStore(path);
  const db = new Database(path);
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE plain (${PLAIN_COLUMNS}) WITHOUT ROWID`);
  const ins = db.prepare('INSERT INTO plain VALUES (1, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)');
  const tx = db.transaction((batch: readonly StoredReading[]) => {
    for (const r of batch)
      ins.run(r.timestamp, Number(r.value), r.value, r.type, r.unit, r.flags.join(','), r.qos.join(','));
  });
  const count = db
    .prepare(
      'SELECT count(*) FROM readings WHERE series = (SELECT id FROM series WHERE thing = ?) AND ts >= ? AND ts <= ?',
    )
    .pluck();
  return {
    label: 'SQLite',
    store,
    plainInsert: async (batch) => void tx(batch),
    count: async (from, to) => count.get(THING, from, to) as number,
    async close() {
      db.close();
      await store.close();
    },
  };
}

async function postgresTarget(server: PostgresServer): Promise<Target> {
  const url = await server.createDatabase('bench');
  const store = await openHistoryStore(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  await pool.query(`CREATE TABLE plain (${PLAIN_COLUMNS})`);
  return {
    label: 'PostgreSQL',
    store,
    async plainInsert(batch) {
      await pool.query(
        `INSERT INTO plain (series, ts, num, value, type, unit, flags, qos)
         SELECT 1, * FROM unnest($1::int8[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
        [
          batch.map((r) => r.timestamp),
          batch.map((r) => Number(r.value)),
          batch.map((r) => r.value),
          batch.map((r) => r.type),
          batch.map((r) => r.unit),
          batch.map((r) => r.flags.join(',')),
          batch.map((r) => r.qos.join(',')),
        ],
      );
    },
    async count(from, to) {
      const { rows } = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM readings WHERE series = (SELECT id FROM series WHERE thing = $1) AND ts >= $2 AND ts <= $3',
        [THING, from, to],
      );
      return Number(rows[0]?.n);
    },
    async vacuum() {
      await pool.query('VACUUM ANALYZE readings');
    },
    async close() {
      await pool.end();
      await store.close();
    },
  };
}

async function measure(target: Target, points: readonly StoredReading[], opts: BenchOptions): Promise<Row[]> {
  const { label, store } = target;
  const parts = batches(points);
  let stored = 0;
  const ours = await timed(async () => {
    for (const b of parts) stored += await store.insert(b);
  });
  if (stored !== points.length) throw new Error(`${label}: stored ${stored} of ${points.length} readings`);
  const plain = await timed(async () => {
    for (const b of parts) await target.plainInsert(b);
  });
  const from = T0;
  const to = T0 + points.length * 1000 - 1;
  const query = { thing: THING, nodeId: 'dev1', field: 'temperature', from, to, buckets: BUCKETS };
  // One warm-up each (a cold page cache is another measurement), then the median of the repeats.
  const buckets = await store.downsample(query);
  if (
    buckets.length !== Math.min(BUCKETS, points.length) ||
    buckets.reduce((n, b) => n + b.count, 0) !== points.length
  )
    throw new Error(`${label}: downsample returned ${buckets.length} buckets`);
  if ((await target.count(from, to)) !== points.length) throw new Error(`${label}: count(*) disagrees`);
  const repeats = Math.max(5, opts.repeats);
  const downsampleRow = async (when: string): Promise<Row> => {
    const ds: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < repeats; i++) {
      ds.push(await timed(() => store.downsample(query)));
      counts.push(await timed(() => target.count(from, to)));
    }
    return {
      scenario: 'history',
      metric: `${label}: downsample ${n} points → ${BUCKETS.toLocaleString('en')} buckets${when}`,
      ours: median(ds) * 1000,
      baseline: 'SELECT count(*) over the same rows',
      baselineValue: median(counts) * 1000,
      unit: 'ms',
      better: 'lower',
      target: '≤ 200 ms',
      note: `median of ${repeats}`,
    };
  };
  const n = points.length.toLocaleString('en');
  const downsampled = [await downsampleRow('')];
  if (target.vacuum) {
    await target.vacuum();
    downsampled.push(await downsampleRow(', after VACUUM ANALYZE'));
  }
  return [
    {
      scenario: 'history',
      metric: `${label}: insert, batches of ${BATCH.toLocaleString('en')} (readings/s)`,
      ours: points.length / ours,
      baseline: 'plain INSERT of the same rows and batches',
      baselineValue: points.length / plain,
      unit: '/s',
      better: 'higher',
      note: `${n} readings, idempotent`,
    },
    ...downsampled,
  ];
}

export async function historyScenario(dir: string, opts: BenchOptions): Promise<Row[]> {
  const points = week(opts.smoke ? 20_000 : 7 * 86_400);
  const rows: Row[] = [];
  const sqlite = await sqliteTarget(dir);
  try {
    rows.push(...(await measure(sqlite, points, opts)));
  } finally {
    await sqlite.close();
  }
  let server: PostgresServer;
  try {
    server = await startPostgres({ durable: true });
  } catch (err) {
    if (!(err instanceof MissingDependencyError)) throw err;
    process.stderr.write(`bench: history on PostgreSQL left out: ${err.message}\n`);
    return rows;
  }
  try {
    const target = await postgresTarget(server);
    try {
      rows.push(...(await measure(target, points, opts)));
    } finally {
      await target.close();
    }
  } finally {
    await server.stop();
  }
  return rows;
}
