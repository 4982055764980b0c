import { afterEach, describe, expect, it } from 'vitest';
import { type HistoryDatabase, InvalidReadingError } from '../../src/hub/history-common.js';
import { openHistoryStore, startRetention } from '../../src/hub/history-store.js';
import type { Bucket, StoredReading } from '../../src/hub/history.js';
import { stores, useStoreSpecs } from '../helpers/stores.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const THING = 'alice-sensor@localhost';

function reading(
  timestamp: number,
  value: number | string,
  over: Partial<StoredReading> = {},
): StoredReading {
  return {
    thing: THING,
    nodeId: 'dev1',
    name: 'temperature',
    timestamp,
    type: 'numeric',
    value: String(value),
    unit: '°C',
    flags: ['momentary'],
    qos: ['automaticReadout'],
    ...over,
  };
}

/** A 1 Hz series with a deterministic wobble and a few spikes that only min/max keep. */
function series(from: number, seconds: number, over: Partial<StoredReading> = {}): StoredReading[] {
  return Array.from({ length: seconds }, (_, i) => {
    const spike = i % 997 === 500 ? 1000 : i % 1499 === 700 ? -1000 : 0;
    return reading(from + i * 1000, (20 + Math.sin(i / 50) * 5 + spike).toFixed(3), over);
  });
}

/** What downsample must return, computed here from the points. */
function expected(points: readonly StoredReading[], from: number, to: number, buckets: number): Bucket[] {
  const width = Math.ceil((to - from + 1) / buckets);
  const out = new Map<number, { min: number; max: number; sum: number; count: number }>();
  for (const p of points) {
    if (p.timestamp < from || p.timestamp > to) continue;
    const b = Math.floor((p.timestamp - from) / width);
    const v = Number(p.value);
    const cur = out.get(b) ?? { min: Infinity, max: -Infinity, sum: 0, count: 0 };
    out.set(b, {
      min: Math.min(cur.min, v),
      max: Math.max(cur.max, v),
      sum: cur.sum + v,
      count: cur.count + 1,
    });
  }
  return [...out.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, s]) => ({
      start: from + b * width,
      min: s.min,
      max: s.max,
      avg: s.sum / s.count,
      count: s.count,
    }));
}

function expectBuckets(actual: Bucket[], wanted: Bucket[]) {
  expect(actual.map(({ avg: _a, ...b }) => b)).toEqual(wanted.map(({ avg: _a, ...b }) => b));
  actual.forEach((b, i) => expect(b.avg).toBeCloseTo(wanted[i]?.avg as number, 6));
}

const count = async (store: HistoryDatabase, from = -8e15, to = 8e15) =>
  (await store.range({ thing: THING, from, to, limit: 1e9 })).length;

describe.each(stores())('fleet history store (%s)', (kind) => {
  const specs = useStoreSpecs(kind);
  const open: HistoryDatabase[] = [];
  const openStore = async (spec?: string, options?: Parameters<typeof openHistoryStore>[1]) => {
    const store = await openHistoryStore(spec ?? (await specs.fresh()), options);
    open.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it(`opens the ${kind} store the spec names`, async () => {
    expect((await openStore()).kind).toBe(kind);
  });

  it('stores a batch once: the same batch again, and overlapping batches, add only what is new', async () => {
    const store = await openStore();
    const batch = series(T0, 100);
    expect(await store.insert(batch)).toBe(100);
    expect(await store.insert(batch)).toBe(0);
    expect(await store.insert(series(T0 + 50_000, 100))).toBe(50);
    // The same reading twice in one batch counts once.
    expect(await store.insert([reading(T0 + 500_000, 1), reading(T0 + 500_000, 1)])).toBe(1);
    expect(await count(store)).toBe(151);
    // Same time, other field or other node or other thing: different readings.
    expect(
      await store.insert([
        reading(T0, 1, { name: 'humidity' }),
        reading(T0, 1, { nodeId: 'dev2' }),
        reading(T0, 1, { thing: 'bob-sensor@localhost' }),
      ]),
    ).toBe(3);
  });

  it('answers latest per node and field, the last timestamp, and the things it has', async () => {
    const store = await openStore();
    expect(await store.lastTimestamp(THING)).toBeUndefined();
    expect(await store.latest(THING)).toEqual([]);
    await store.insert([
      reading(T0, 20),
      reading(T0 + 2000, 22),
      reading(T0 + 1000, 21),
      reading(T0 + 500, 'on', {
        name: 'relay',
        type: 'boolean',
        value: 'true',
        unit: undefined,
        writable: true,
      }),
      reading(T0 + 9000, 3, { nodeId: 'dev2', name: 'count', type: 'int', unit: undefined }),
      reading(T0 + 4000, 1, { thing: 'bob-sensor@localhost' }),
    ]);
    const latest = await store.latest(THING);
    expect(latest.map((r) => [r.nodeId, r.name, r.timestamp, r.value])).toEqual([
      ['dev1', 'relay', T0 + 500, 'true'],
      ['dev1', 'temperature', T0 + 2000, '22'],
      ['dev2', 'count', T0 + 9000, '3'],
    ]);
    expect(await store.lastTimestamp(THING)).toBe(T0 + 9000);
    expect(await store.lastTimestamp('bob-sensor@localhost')).toBe(T0 + 4000);
    expect(await store.lastTimestamp('nobody@localhost')).toBeUndefined();
    expect(await store.things()).toEqual([
      { thing: THING, lastSeen: T0 + 9000 },
      { thing: 'bob-sensor@localhost', lastSeen: T0 + 4000 },
    ]);
  });

  it('returns a range oldest first, inclusive, filtered by node and field, cut at the limit', async () => {
    const store = await openStore();
    await store.insert([...series(T0, 60), ...series(T0, 60, { name: 'humidity' })]);
    await store.insert(series(T0, 10, { nodeId: 'dev2' }));
    const all = await store.range({ thing: THING, from: T0, to: T0 + 59_000 });
    expect(all).toHaveLength(130);
    expect(all.map((r) => r.timestamp)).toEqual([...all.map((r) => r.timestamp)].sort((a, b) => a - b));
    // Within one timestamp: by node, then field.
    expect(all.slice(0, 3).map((r) => `${r.nodeId}/${r.name}`)).toEqual([
      'dev1/humidity',
      'dev1/temperature',
      'dev2/temperature',
    ]);
    const one = await store.range({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0 + 10_000,
      to: T0 + 20_000,
    });
    expect(one.map((r) => r.timestamp)).toEqual(Array.from({ length: 11 }, (_, i) => T0 + 10_000 + i * 1000));
    expect(await store.range({ thing: THING, nodeId: 'dev2', from: T0, to: T0 + 1e9 })).toHaveLength(10);
    expect(await store.range({ thing: THING, field: 'humidity', from: T0, to: T0 + 1e9 })).toHaveLength(60);
    const limited = await store.range({
      thing: THING,
      field: 'temperature',
      from: T0,
      to: T0 + 1e9,
      limit: 5,
    });
    expect(limited.map((r) => r.timestamp)).toEqual([T0, T0, T0 + 1000, T0 + 1000, T0 + 2000]);
    expect(await store.range({ thing: THING, from: T0, to: T0 + 1e9, limit: 0 })).toEqual([]);
    expect(await store.range({ thing: 'nobody@localhost', from: T0, to: T0 + 1e9 })).toEqual([]);
  });

  it('keeps every field as sent: types, lexical values, unit, dataType, flags, QoS, writable', async () => {
    const store = await openStore();
    const fields: StoredReading[] = [
      reading(T0, 0, {
        type: 'numeric',
        value: '21.50',
        unit: '°C',
        flags: ['momentary', 'computed'],
        qos: [],
      }),
      reading(T0, 0, { name: 'n', type: 'long', value: '9007199254740993', unit: undefined }),
      reading(T0, 0, { name: 'b', type: 'boolean', value: 'false', unit: undefined, writable: false }),
      reading(T0, 0, {
        name: 's',
        type: 'string',
        value: 'héllo <&> "x"',
        unit: undefined,
        qos: ['warning'],
      }),
      reading(T0, 0, { name: 'e', type: 'enum', value: 'Open', dataType: 'urn:x:door', unit: undefined }),
      reading(T0, 0, {
        name: 'd',
        type: 'dateTime',
        value: '2026-01-01T00:00:00Z',
        unit: undefined,
        flags: ['identity'],
      }),
      reading(T0, 0, {
        name: 'p',
        type: 'duration',
        value: 'PT1H',
        unit: undefined,
        flags: ['status', 'identity'],
      }),
      reading(T0, 0, { name: 'empty', type: 'string', value: '', unit: '', flags: [], qos: [] }),
    ];
    expect(await store.insert(fields)).toBe(fields.length);
    const byName = (rs: StoredReading[]) => [...rs].sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(byName(await store.range({ thing: THING, from: T0, to: T0 }))).toEqual(byName(fields));
    expect(byName(await store.latest(THING))).toEqual(byName(fields));
    // Non-numeric fields have no buckets; a boolean is plotted as 0/1.
    const ds = (field: string) =>
      store.downsample({ thing: THING, nodeId: 'dev1', field, from: T0, to: T0, buckets: 1 });
    expect(await ds('s')).toEqual([]);
    expect(await ds('d')).toEqual([]);
    expect(await ds('b')).toEqual([{ start: T0, min: 0, max: 0, avg: 0, count: 1 }]);
    expect(await ds('n')).toEqual([
      { start: T0, min: 9007199254740992, max: 9007199254740992, avg: 9007199254740992, count: 1 },
    ]);
  });

  it('downsamples into at most the buckets asked, min and max keeping the spikes', async () => {
    const store = await openStore();
    const points = series(T0, 3 * 3600);
    await store.insert(points);
    const to = T0 + 3 * HOUR - 1;
    for (const buckets of [1, 7, 100, 1000, 10_000]) {
      const got = await store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: T0,
        to,
        buckets,
      });
      expect(got.length).toBeLessThanOrEqual(buckets);
      expectBuckets(got, expected(points, T0, to, buckets));
    }
    // A window inside the series, not aligned to anything, and one with empty buckets (they are left out).
    const from = T0 + 1234_567;
    expectBuckets(
      await store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from,
        to: from + 777_777,
        buckets: 37,
      }),
      expected(points, from, from + 777_777, 37),
    );
    const wide = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0 - 3 * HOUR,
      to,
      buckets: 6,
    });
    expect(wide.map((b) => b.start)).toEqual([T0, T0 + HOUR, T0 + 2 * HOUR]);
    const all = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to,
      buckets: 1,
    });
    expect(all[0]?.max).toBeGreaterThan(1000);
    expect(all[0]?.min).toBeLessThan(-970);
    expect(
      await store.downsample({ thing: THING, nodeId: 'dev1', field: 'nope', from: T0, to, buckets: 10 }),
    ).toEqual([]);
    expect(
      await store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: to,
        to: T0,
        buckets: 10,
      }),
    ).toEqual([]);
  });

  it('folds raw readings older than the raw retention into aggregates that downsample still reads', async () => {
    const retention = { rawMs: DAY, aggregatesMs: 10 * DAY, resolutionMs: 60_000 };
    const store = await openStore(undefined, { retention });
    const points = series(T0, 3 * 3600);
    const labels = Array.from({ length: 3 * 60 }, (_, i) =>
      reading(T0 + i * 60_000, 0, { name: 'label', type: 'string', value: `minute ${i}`, unit: undefined }),
    );
    await store.insert([...points, ...labels]);
    const to = T0 + 3 * HOUR - 1;
    const before = await Promise.all(
      [180, 18, 7].map((buckets) =>
        store.downsample({ thing: THING, nodeId: 'dev1', field: 'temperature', from: T0, to, buckets }),
      ),
    );

    // Now is one day and one hour after T0: the first hour is past the raw retention.
    expect(await store.applyRetention(T0 + DAY + HOUR)).toEqual({ raw: 3600 + 60, aggregates: 0 });
    const raw = await store.range({ thing: THING, from: T0, to, limit: 1e9 });
    expect(raw).toHaveLength(2 * 3600 + 2 * 60);
    expect(Math.min(...raw.map((r) => r.timestamp))).toBe(T0 + HOUR);
    // Buckets that are whole minutes come out exactly as from the raw readings.
    for (const [i, buckets] of [180, 18].entries()) {
      const got = await store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: T0,
        to,
        buckets,
      });
      expectBuckets(got, expected(points, T0, to, buckets));
      expectBuckets(got, before[i] as Bucket[]);
    }
    // Others are exact in count, min and max over the whole range (a minute's aggregate falls in one bucket).
    const seven = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to,
      buckets: 7,
    });
    expect(seven.reduce((n, b) => n + b.count, 0)).toBe(3 * 3600);
    expect(Math.max(...seven.map((b) => b.max))).toBe(Math.max(...(before[2] as Bucket[]).map((b) => b.max)));
    expect(Math.min(...seven.map((b) => b.min))).toBe(Math.min(...(before[2] as Bucket[]).map((b) => b.min)));

    // Readings of the folded hour sent again (a backfill) are not stored twice, nor counted twice.
    expect(await store.insert(points.slice(0, 3600))).toBe(0);
    expectBuckets(
      await store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: T0,
        to,
        buckets: 180,
      }),
      expected(points, T0, to, 180),
    );
    // A second retention pass with nothing new to fold changes nothing.
    expect(await store.applyRetention(T0 + DAY + HOUR)).toEqual({ raw: 0, aggregates: 0 });

    // Ten days and two hours later: everything raw is folded; aggregates older than ten days are dropped.
    expect(await store.applyRetention(T0 + 10 * DAY + 2 * HOUR)).toEqual({
      raw: 2 * 3600 + 2 * 60,
      aggregates: 120,
    });
    expect(await count(store)).toBe(0);
    const left = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to,
      buckets: 180,
    });
    expectBuckets(left, expected(points, T0, to, 180).slice(120));
    // The thing is still known, as of its newest aggregate (a backfill would start there).
    expect(await store.lastTimestamp(THING)).toBe(T0 + 3 * HOUR - 60_000);
    expect((await store.things()).map((t) => t.thing)).toEqual([THING]);
  });

  it('prune deletes the raw readings before a time and keeps them as aggregates', async () => {
    const store = await openStore();
    await store.insert(series(T0, 600));
    expect(await store.prune(T0 + 300_000)).toBe(300);
    expect(await count(store)).toBe(300);
    expect(await store.prune(T0 + 100_000)).toBe(0); // the cutoff never moves back
    const [b] = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to: T0 + 599_999,
      buckets: 1,
    });
    expect(b?.count).toBe(600);
  });

  it('applies retention by itself once started, until stopped', async () => {
    const store = await openStore(undefined, { retention: { rawMs: DAY, aggregatesMs: 1000 * DAY } });
    const old = Date.now() - 3 * DAY;
    const start = old - (old % 60_000);
    await store.insert([...series(start, 120), reading(Date.now(), 1)]);
    const retention = startRetention(store, { everyMs: 50 });
    await expect.poll(() => count(store), { timeout: 10_000 }).toBe(1);
    await retention.stop();
    await store.insert(series(Date.now() - 60_000, 10));
    await new Promise((r) => setTimeout(r, 200));
    expect(await count(store)).toBe(11);
    const [b] = await store.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: start,
      to: start + 119_999,
      buckets: 1,
    });
    expect(b?.count).toBe(120);
  });

  it('keeps everything across a close and reopen', async () => {
    const spec = await specs.fresh();
    const first = await openStore(spec);
    const points = series(T0, 500);
    await first.insert(points);
    await first.prune(T0 + 120_000);
    const latest = await first.latest(THING);
    await first.close();
    await expect(first.insert(points)).rejects.toThrow(/closed/);
    const second = await openStore(spec);
    expect(await second.latest(THING)).toEqual(latest);
    expect(await count(second)).toBe(380);
    expect(await second.insert(points)).toBe(0);
    const [b] = await second.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to: T0 + 499_999,
      buckets: 1,
    });
    expect(b?.count).toBe(500);
  });

  it('counts each reading once when overlapping batches are inserted concurrently through two stores', async () => {
    const spec = await specs.fresh();
    const [a, b] = [await openStore(spec), await openStore(spec)];
    // 20 batches of 500 readings, each overlapping the previous by half, on two fields.
    const batches = Array.from({ length: 20 }, (_, k) => [
      ...series(T0 + k * 250_000, 500),
      ...series(T0 + k * 250_000, 500, { name: 'humidity' }),
    ]);
    const counts = await Promise.all(batches.map((batch, k) => (k % 2 ? a : b).insert(batch)));
    const unique = (20 * 250 + 250) * 2;
    expect(counts.reduce((x, y) => x + y, 0)).toBe(unique);
    expect(await count(a)).toBe(unique);
    expect(await Promise.all(batches.map((batch, k) => (k % 2 ? b : a).insert(batch)))).toEqual(
      batches.map(() => 0),
    );
  });

  it('never counts a reading twice when inserts race a retention pass through another store', async () => {
    const spec = await specs.fresh();
    const [a, b] = [await openStore(spec), await openStore(spec)];
    const points = series(T0, 3600);
    await a.insert(points.slice(0, 900));
    const cutoff = T0 + 1_800_000;
    await Promise.all([
      a.insert(points.slice(0, 2000)),
      b.prune(cutoff),
      a.insert(points.slice(1000, 3600)),
      b.insert(points),
    ]);
    await a.insert(points); // a backfill sending everything again
    const perMinute = await a.downsample({
      thing: THING,
      nodeId: 'dev1',
      field: 'temperature',
      from: T0,
      to: T0 + 3_599_999,
      buckets: 60,
    });
    // Readings older than the cutoff that arrived after it moved are not stored; none is counted twice:
    // the first quarter hour (stored before) and the second half hour (raw) are whole, no minute has more.
    expect(perMinute.every((m) => m.count <= 60)).toBe(true);
    const minutes = new Map(perMinute.map((m) => [(m.start - T0) / 60_000, m.count]));
    for (let m = 0; m < 60; m++) if (m < 15 || m >= 30) expect(minutes.get(m)).toBe(60);
    const raw = await a.range({ thing: THING, from: T0, to: T0 + 3_599_999, limit: 1e9 });
    expect(raw.map((r) => r.timestamp)).toEqual(points.slice(1800).map((r) => r.timestamp));
  });

  it('refuses bad readings with an error that says which and why, storing nothing of the batch', async () => {
    const store = await openStore();
    const refused = async (r: Partial<StoredReading>, why: RegExp) => {
      const err = await store
        .insert([reading(T0, 1), { ...reading(T0 + 1000, 2), ...r }])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidReadingError);
      expect((err as InvalidReadingError).code).toBe('IOT_ERR_STORE');
      expect((err as Error).message).toMatch(/reading 1 refused/);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message.length).toBeLessThan(300); // never echoes a huge value
    };
    await refused({ timestamp: Number.NaN }, /timestamp NaN is not a finite number/);
    await refused({ timestamp: Infinity }, /not a finite number/);
    await refused({ timestamp: T0 + 0.5 }, /whole number of milliseconds/);
    await refused({ timestamp: 1e17 }, /outside the range of dates/);
    await refused({ value: 'x'.repeat(1_000_000) }, /value is 1000000 characters long \(at most 16384\)/);
    await refused({ thing: 'x'.repeat(5000) }, /thing is 5000 characters long/);
    await refused({ name: '' }, /field name is empty/);
    await refused({ name: 'a\u0000b' }, /NUL/);
    await refused({ unit: 'u'.repeat(300) }, /unit is 300 characters long/);
    await refused({ type: 'float' as StoredReading['type'] }, /not a XEP-0323 type/);
    await refused({ flags: ['sparkly'] as unknown as StoredReading['flags'] }, /unknown flag/);
    await refused({ value: 42 as unknown as string }, /value is not a string/);
    expect(await count(store)).toBe(0);
    await expect(store.insert('nope' as unknown as StoredReading[])).rejects.toThrow(/expected an array/);
    await expect(
      store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: Number.NaN,
        to: T0,
        buckets: 10,
      }),
    ).rejects.toThrow(/from is not a time/);
    await expect(
      store.downsample({
        thing: THING,
        nodeId: 'dev1',
        field: 'temperature',
        from: T0,
        to: T0 + 1,
        buckets: 1e9,
      }),
    ).rejects.toThrow(/buckets must be a whole number from 1 to 10000/);
    // The store still works.
    expect(await store.insert([reading(T0, 1)])).toBe(1);
  });

  it('tells onInsert listeners only the readings that were new', async () => {
    const store = await openStore();
    const seen: number[][] = [];
    const off = store.onInsert((rs) => seen.push(rs.map((r) => r.timestamp)));
    store.onInsert(() => {
      throw new Error('a broken listener');
    });
    await store.insert([reading(T0, 1), reading(T0 + 1000, 2)]);
    await store.insert([reading(T0 + 1000, 2), reading(T0 + 2000, 3), reading(T0, 1)]);
    await store.insert([reading(T0, 1)]); // nothing new: no call
    off();
    await store.insert([reading(T0 + 3000, 4)]);
    expect(seen).toEqual([[T0, T0 + 1000], [T0 + 2000]]);
  });

  if (kind === 'postgres')
    it('says how to fix a PostgreSQL it cannot reach, without the password', async () => {
      const err = await openHistoryStore('postgres://hub:s3cret-pw@127.0.0.1:1/fleet').catch(
        (e: unknown) => e,
      );
      expect((err as Error).message).toMatch(
        /cannot open the fleet history at postgres:\/\/hub:\*\*\*@127\.0\.0\.1:1\/fleet/,
      );
      expect((err as Error).message).toMatch(/check that PostgreSQL runs/);
      expect((err as Error).message).not.toMatch(/s3cret/);
      await expect(openHistoryStore('postgres://hub:s3cret@[bad/fleet')).rejects.toThrow(
        /postgres:\/\/hub:\*\*\*@\[bad\/fleet is not a URL; expected postgres:\/\/user:password@host:5432\/database/,
      );
      const url = new URL(await specs.fresh());
      url.pathname = '/no_such_db';
      const missing = await openHistoryStore(url.toString()).catch((e: unknown) => e);
      expect((missing as Error).message).toMatch(/createdb -O postgres no_such_db/);
    });
  else
    it('says where an SQLite file cannot be created', async () => {
      // A directory under a plain file. (Not under /proc: Node 20's recursive mkdir loops there for ever.)
      const file = await specs.fresh();
      (await openStore(file)).close();
      await expect(openHistoryStore(`${file}/sub/history.db`)).rejects.toThrow(
        /cannot open the fleet history at .*\/sub\/history\.db: ENOTDIR.*check that the directory is writable/,
      );
    });
});
