import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import system, { meminfoKib } from '../../devices/system.js';
import { silentLogger } from '../../src/core/logger.js';
import { createFileSource } from '../../src/hal/files.js';
import type { FileSource, PollSource, Values } from '../../src/sdk/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A /proc and /sys tree in a temp dir, with the given thermal zones (name → [type, millidegrees]). */
function host(zones: Record<string, [string, string]>) {
  const root = mkdtempSync(join(tmpdir(), 'xiot-system-'));
  dirs.push(root);
  mkdirSync(join(root, 'proc'));
  writeFileSync(join(root, 'proc', 'loadavg'), '0.50 0.40 0.30 1/200 1234\n');
  writeFileSync(
    join(root, 'proc', 'meminfo'),
    'MemTotal:  1024000 kB\nMemFree: 10 kB\nMemAvailable:  512000 kB\n',
  );
  writeFileSync(join(root, 'proc', 'uptime'), '3600.25 7000.00\n');
  const thermal = join(root, 'sys', 'class', 'thermal');
  mkdirSync(thermal, { recursive: true });
  for (const [name, [type, temp]] of Object.entries(zones)) {
    mkdirSync(join(thermal, name));
    writeFileSync(join(thermal, name, 'type'), `${type}\n`);
    writeFileSync(join(thermal, name, 'temp'), `${temp}\n`);
  }
  const real = createFileSource({ proc: join(root, 'proc'), sys: join(root, 'sys') });
  let lists = 0;
  const files: FileSource = { ...real, list: (dir) => (lists++, real.list(dir)) };
  return { thermal, files, lists: () => lists };
}

const read = (files: FileSource, thermalZone?: string): Promise<Values> =>
  (system.source as PollSource<{ thermalZone?: string }>).read({
    deviceId: 'host',
    options: thermalZone === undefined ? {} : { thermalZone },
    hal: { files },
    log: silentLogger(),
    signal: new AbortController().signal,
  });

describe('system device', () => {
  it('reads load, memory and uptime, and the CPU zone chosen by its type', async () => {
    const h = host({ thermal_zone0: ['acpitz', '30000'], thermal_zone1: ['x86_pkg_temp', '47500'] });
    const v = await read(h.files);
    expect(v).toMatchObject({ load1: 0.5, load15: 0.3, memTotal: 1000, memAvailable: 500, memUsed: 50 });
    expect(v.uptime).toBe(3600.25);
    expect(v.cpuTemperature).toBe(47.5);
    expect((await read(h.files, 'thermal_zone0')).cpuTemperature).toBe(30);
  });

  it('chooses the zone once, and again when it disappears', async () => {
    const h = host({ thermal_zone0: ['soc-thermal', '41000'], thermal_zone1: ['gpu', '50000'] });
    for (let i = 0; i < 5; i++) expect((await read(h.files)).cpuTemperature).toBe(41);
    expect(h.lists()).toBe(1);
    rmSync(join(h.thermal, 'thermal_zone0'), { recursive: true });
    expect((await read(h.files)).cpuTemperature).toBeUndefined(); // the zone went away: reported absent
    expect((await read(h.files)).cpuTemperature).toBe(50); // chosen again: the first remaining zone
    expect(h.lists()).toBe(2);
  });

  it('leaves the temperature out on a host without thermal zones, without listing on every reading', async () => {
    const h = host({});
    for (let i = 0; i < 3; i++) expect((await read(h.files)).cpuTemperature).toBeUndefined();
    expect(h.lists()).toBe(1);
  });

  it('finds /proc/meminfo values by key, anywhere in the file, and only whole keys', () => {
    const text =
      'MemTotal:       24683652 kB\nMemFree:        23608220 kB\nMemAvailable:   24187968 kB\n' +
      'SwapTotal:             0 kB\nHugePages_Total:       0\n';
    expect(meminfoKib(text, 'MemTotal')).toBe(24683652);
    expect(meminfoKib(text, 'MemAvailable')).toBe(24187968);
    expect(meminfoKib(text, 'HugePages_Total')).toBe(0);
    expect(meminfoKib(text, 'Total')).toBeUndefined(); // not a suffix of another key
    expect(meminfoKib('MemTotal:\n', 'MemTotal')).toBeUndefined();
    expect(meminfoKib('MemTotal: 12 kB', 'MemTotal')).toBe(12); // no final newline
  });
});
