import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDevices } from '../../devices/index.js';
import { parseAgentConfig } from '../../src/config/agent-config.js';
import type { Logger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import type { Reading } from '../../src/model/fields.js';
import { createDeviceRunner } from '../../src/agent/runner.js';
import { defineDevice, v } from '../../src/sdk/index.js';

/** A fake /proc the test can unplug and replug. */
function fakeProc() {
  const root = mkdtempSync(join(tmpdir(), 'xiot-proc-'));
  const plug = (load = '0.50 0.40 0.30 1/100 42') => {
    writeFileSync(join(root, 'loadavg'), `${load}\n`);
    writeFileSync(
      join(root, 'meminfo'),
      'MemTotal:       1024000 kB\nMemFree:  100 kB\nMemAvailable:    512000 kB\n',
    );
    writeFileSync(join(root, 'uptime'), '123.45 100.00\n');
  };
  mkdirSync(join(root, 'empty'));
  return {
    root,
    plug,
    unplug: () => rmSync(join(root, 'loadavg')),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

function recordingLogger() {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const make = (): Logger => ({
    trace: () => undefined,
    debug: () => undefined,
    info: (obj, msg = '') => void lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg = '') => void lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg = '') => void lines.push({ level: 'error', msg, obj }),
    child: () => make(),
  });
  return { log: make(), lines };
}

function deviceConfig(yaml: string) {
  const c = parseAgentConfig(
    `xmpp: { service: xmpp://127.0.0.1:1, domain: localhost, username: a, password: p }\ndevices:\n${yaml}`,
    { definitions: builtinDevices, env: {} },
  );
  return c.devices[0]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('device runner', () => {
  it("reads once, not in a loop, with an interval past setTimeout's 24.8 days (4w)", async () => {
    const proc = fakeProc();
    proc.plug();
    cleanups.push(proc.remove);
    const readings: Reading[] = [];
    const runner = createDeviceRunner({
      config: deviceConfig('  - { id: host, type: system, interval: 4w }'),
      hal: { files: createFileSource({ proc: proc.root, sys: join(proc.root, 'empty') }) },
      log: recordingLogger().log,
      onReading: (r) => readings.push(r),
    });
    cleanups.push(() => runner.stop());
    runner.start();
    await sleep(300);
    expect(runner.status().reads).toBe(1);
    expect(readings).toHaveLength(1);
  });

  it('retries a failing device with an interval of weeks with backoff, not in a loop', async () => {
    const proc = fakeProc();
    cleanups.push(proc.remove); // never plugged: every read fails
    const runner = createDeviceRunner({
      config: deviceConfig('  - { id: host, type: system, interval: 5w }'),
      hal: { files: createFileSource({ proc: proc.root, sys: join(proc.root, 'empty') }) },
      log: recordingLogger().log,
      onReading: () => undefined,
    });
    cleanups.push(() => runner.stop());
    runner.start();
    await sleep(300);
    expect(runner.status().failures).toBeGreaterThanOrEqual(1);
    expect(runner.status().failures).toBeLessThanOrEqual(2); // the first retry is 250–500 ms later
  });

  it('reads on its interval, marks an unplugged device unavailable once, retries, and recovers', async () => {
    const proc = fakeProc();
    proc.plug();
    cleanups.push(proc.remove);
    const { log, lines } = recordingLogger();
    const readings: Reading[] = [];
    const availability: boolean[] = [];
    const runner = createDeviceRunner({
      config: deviceConfig('  - { id: host, type: system, interval: 200ms }'),
      hal: { files: createFileSource({ proc: proc.root, sys: join(proc.root, 'empty') }) },
      log,
      onReading: (r) => readings.push(r),
      onAvailability: (a) => availability.push(a),
      retry: { baseMs: 20, maxMs: 50 },
    });
    cleanups.push(() => runner.stop());
    runner.start();
    await sleep(450);
    expect(readings.length).toBeGreaterThanOrEqual(2);
    expect(readings[0]?.fields.find((f) => f.name === 'load1')?.value).toBe(0.5);
    expect(readings[0]?.fields.find((f) => f.name === 'memUsed')?.value).toBe(50);
    expect(readings[0]?.fields.some((f) => f.name === 'cpuTemperature')).toBe(false); // optional, absent here

    proc.unplug();
    await sleep(500);
    const failures = runner.status().failures;
    expect(failures).toBeGreaterThanOrEqual(5); // retried faster than the interval
    expect(runner.status().available).toBe(false);
    await expect(runner.readNow()).rejects.toThrow(/ENOENT|no such file/);
    const n = readings.length;
    proc.plug('0.90 0.40 0.30 1/100 42');
    await sleep(300);
    expect(runner.status().available).toBe(true);
    expect(readings.length).toBeGreaterThan(n);
    expect(readings.at(-1)?.fields.find((f) => f.name === 'load1')?.value).toBe(0.9);
    expect(availability).toEqual([true, false, true]);
    // One line for the failure, one for the recovery: not one per retry.
    expect(lines.filter((l) => l.msg === 'device unavailable')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'device recovered')).toHaveLength(1);
  });

  it('applies filters: with a large delta only the first reading passes for that field', async () => {
    const proc = fakeProc();
    proc.plug();
    cleanups.push(proc.remove);
    const readings: Reading[] = [];
    const runner = createDeviceRunner({
      config: deviceConfig(
        '  - { id: host, type: system, interval: 50ms, fields: { load1: { filters: [ { delta: 5 } ] }, uptime: { enabled: false } } }',
      ),
      hal: { files: createFileSource({ proc: proc.root, sys: join(proc.root, 'empty') }) },
      log: recordingLogger().log,
      onReading: (r) => readings.push(r),
    });
    cleanups.push(() => runner.stop());
    runner.start();
    await sleep(250);
    await runner.stop();
    expect(readings.length).toBeGreaterThanOrEqual(3);
    expect(readings.filter((r) => r.fields.some((f) => f.name === 'load1'))).toHaveLength(1);
    expect(readings.every((r) => !r.fields.some((f) => f.name === 'uptime'))).toBe(true);
  });

  it('times out a read that hangs and reports the device unavailable', async () => {
    const { log } = recordingLogger();
    const config = deviceConfig('  - { id: host, type: system, interval: 1h, timeout: 50ms }');
    const runner = createDeviceRunner({
      config,
      hal: {
        files: { ...createFileSource(), readText: () => new Promise<string>(() => undefined) },
      },
      log,
      onReading: () => undefined,
      retry: { baseMs: 1000, maxMs: 1000 },
    });
    cleanups.push(() => runner.stop());
    runner.start();
    await sleep(120);
    expect(runner.status()).toMatchObject({
      available: false,
      lastError: { message: 'device did not answer within 50 ms' },
    });
  });

  it('shares one read among the readouts of one turn, reads again in the next turn, after a change and a failure', async () => {
    let reads = 0;
    let level = 1;
    let fail = false;
    const counter = defineDevice({
      type: 'counter',
      description: 'Counts its reads (this test)',
      options: v.strictObject({}),
      fields: [
        { name: 'reads', type: 'int', description: 'Reads so far' },
        { name: 'level', type: 'int', description: 'The level last set' },
      ],
      controls: [{ name: 'level', type: 'int', description: 'A level' }],
      source: {
        kind: 'poll',
        defaultInterval: '1h',
        async set(_ctx, values) {
          level = Number(values.level);
        },
        async read() {
          if (fail) throw new Error('unplugged');
          return { reads: ++reads, level };
        },
      },
    });
    const config = parseAgentConfig(
      'xmpp: { service: xmpp://127.0.0.1:1, domain: localhost, username: a, password: p }\ndevices:\n  - { id: c, type: counter, interval: 1h }\n',
      { definitions: [...builtinDevices, counter], env: {} },
    ).devices[0]!;
    const files = createFileSource();
    cleanups.push(() => files.close());
    const runner = createDeviceRunner({
      config,
      hal: { files },
      log: recordingLogger().log,
      onReading: () => undefined,
    });
    const value = (r: Reading, name: string) => r.fields.find((f) => f.name === name)?.value;
    const nextTurn = () => new Promise((r) => setImmediate(r));
    runner.start();
    cleanups.push(() => runner.stop());
    await sleep(20); // its first scheduled read
    expect(reads).toBe(1);
    reads = 0;
    await nextTurn();

    // Three readouts whose requests arrived together: one read, the same values and timestamp.
    const together = await Promise.all([runner.readNow(), runner.readNow(), runner.readNow()]);
    expect(reads).toBe(1);
    expect(together.map((r) => value(r, 'reads'))).toEqual([1, 1, 1]);
    expect(new Set(together.map((r) => r.timestamp)).size).toBe(1);
    // Still in that turn: shared. In a later turn: read again.
    expect(value(await runner.readNow(), 'reads')).toBe(1);
    await nextTurn();
    expect(value(await runner.readNow(), 'reads')).toBe(2);
    // A change (XEP-0325) in the same turn is never hidden by a shared read.
    await runner.set({ level: 7 });
    const after = await runner.readNow();
    expect(value(after, 'level')).toBe(7);
    // A failed read is not kept: the next readout, in the same turn, reads again.
    await nextTurn();
    fail = true;
    await expect(runner.readNow()).rejects.toThrow('unplugged');
    fail = false;
    const before = reads;
    await runner.readNow();
    expect(reads).toBe(before + 1);
  });
});
