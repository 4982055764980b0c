import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSource } from '../../src/hal/files.js';
import { createProcReader } from '../../src/hal/procfs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'xiot-procfs-'));
  dirs.push(d);
  return d;
};
const openFds = () => readdirSync('/proc/self/fd').length;

describe('procfs reader (descriptors kept open, read at offset 0)', () => {
  it('the real /proc through createFileSource keeps one descriptor per file', async () => {
    const files = createFileSource();
    const before = openFds();
    await files.readText('/proc/loadavg');
    await files.readText('/proc/loadavg');
    expect(openFds()).toBe(before + 1);
    files.close();
    expect(openFds()).toBe(before);
  });

  it('reads the real /proc afresh each time, and close() releases its descriptors', () => {
    const before = openFds();
    const reader = createProcReader();
    const a = reader.read('/proc/self/stat'); // changes between reads (CPU times, at least the start is stable)
    const uptime1 = Number(reader.read('/proc/uptime').split(' ')[0]);
    expect(a).toMatch(/^\d+ \(/);
    expect(openFds()).toBe(before + 2);
    const t = Date.now();
    while (Date.now() - t < 30); // let uptime move by at least 0.01 s
    const uptime2 = Number(reader.read('/proc/uptime').split(' ')[0]);
    expect(uptime2).toBeGreaterThan(uptime1);
    expect(openFds()).toBe(before + 2); // the same descriptors, read again
    reader.close();
    expect(openFds()).toBe(before);
  });

  it('reads a file larger than its first buffer whole', () => {
    const dir = tempDir();
    const big = 'x'.repeat(40_000) + '\nend\n';
    writeFileSync(join(dir, 'big'), big);
    const reader = createProcReader();
    expect(reader.read(join(dir, 'big'))).toBe(big);
    expect(reader.read(join(dir, 'big'))).toBe(big);
    reader.close();
  });

  it('a simulated root is read the ordinary way: a file rewritten in place, replaced by a rename, removed', () => {
    const dir = tempDir();
    const files = createFileSource({ proc: dir });
    const path = join(dir, 'loadavg');
    writeFileSync(path, '0.10 0.20 0.30 1/100 1\n');
    return (async () => {
      const before = openFds();
      expect(await files.readText('/proc/loadavg')).toBe('0.10 0.20 0.30 1/100 1\n');
      expect(openFds()).toBe(before); // nothing kept open for a simulated root
      writeFileSync(path, '0.5 0.6 0.7 1/100 1\n'); // in place, shorter: no stale tail
      expect(await files.readText('/proc/loadavg')).toBe('0.5 0.6 0.7 1/100 1\n');
      writeFileSync(join(dir, 'next'), '9.00 9.00 9.00 1/100 1\n');
      renameSync(join(dir, 'next'), path); // a new inode under the same name
      expect(await files.readText('/proc/loadavg')).toBe('9.00 9.00 9.00 1/100 1\n');
      rmSync(path); // an unplugged device: the read fails as a plain read would
      await expect(files.readText('/proc/loadavg')).rejects.toMatchObject({ code: 'ENOENT' });
      files.close();
    })();
  });

  it('a missing file fails with ENOENT and keeps nothing open', () => {
    const before = openFds();
    const reader = createProcReader();
    expect(() => reader.read(join(tempDir(), 'nope'))).toThrow(/ENOENT/);
    expect(openFds()).toBe(before);
  });
});
