import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../src/model/fields.js';
import { openStore } from '../../src/store/store.js';
import { tempDir } from '../helpers/agent.js';

const reading = (deviceId: string, timestamp: number, value: number | bigint = 1): Reading => ({
  deviceId,
  timestamp,
  fields: [
    {
      name: 'v',
      type: typeof value === 'bigint' ? 'long' : 'numeric',
      value,
      unit: '',
      flags: ['momentary'],
      qos: [],
    },
  ],
});

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe('reading store', () => {
  it('keeps the outbox in order across a reopen and removes only acknowledged entries', () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = `${dir.path}/nested/agent.db`;
    const store = openStore(path);
    const ids = [1, 2, 3].map((t) => store.add(reading('a', t), true));
    store.add(reading('a', 4), false);
    store.acknowledge(ids[0]!);
    store.close();
    const again = openStore(path);
    expect(again.outbox(10).map((r) => r.timestamp)).toEqual([2, 3]);
    expect(again.outboxDepth()).toBe(2);
    expect(again.history({ deviceIds: ['a'], limit: 10 }).map((r) => r.timestamp)).toEqual([1, 2, 3, 4]);
    again.close();
  });

  it('serves a history window inclusively, per device, and keeps 64-bit integers exact', () => {
    const store = openStore(':memory:');
    for (const t of [10, 20, 30, 40]) store.add(reading('a', t), false);
    store.add(reading('b', 25, 9007199254740993n), false);
    expect(
      store.history({ deviceIds: ['a'], fromMs: 20, toMs: 30, limit: 10 }).map((r) => r.timestamp),
    ).toEqual([20, 30]);
    expect(store.history({ deviceIds: ['b'], limit: 10 })[0]?.fields[0]?.value).toBe(9007199254740993n);
    store.close();
  });

  it('prunes old history but never a reading still waiting in the outbox', () => {
    const store = openStore(':memory:');
    store.add(reading('a', 1), true);
    store.add(reading('a', 2), false);
    store.add(reading('a', 100), false);
    expect(store.prune(50)).toBe(1);
    expect(store.history({ deviceIds: ['a'], limit: 10 }).map((r) => r.timestamp)).toEqual([1, 100]);
    store.close();
  });
});
