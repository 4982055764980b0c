import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSource } from '../sdk/index.js';
import { createProcReader } from './procfs.js';

export interface FileRoots {
  /** Where `/proc` lives (default `/proc`). */
  proc?: string;
  /** Where `/sys` lives (default `/sys`): 1-Wire and thermal trees can be simulated by pointing it elsewhere. */
  sys?: string;
}

/** The real file adapter: maps absolute /proc and /sys paths under the configured roots. */
export function createFileSource(roots: FileRoots = {}): FileSource & { close(): void } {
  const proc = roots.proc ?? '/proc';
  // The real /proc through kept descriptors (procfs.ts); a simulated one the ordinary way.
  const procReader = proc === '/proc' ? createProcReader() : undefined;
  const readProc = (path: string) =>
    procReader ? procReader.read(path) : readFileSync(resolve(path), 'utf8');
  const sys = roots.sys ?? '/sys';
  const resolve = (path: string): string => {
    if (path === '/proc' || path.startsWith('/proc/')) return join(proc, path.slice(5));
    if (path === '/sys' || path.startsWith('/sys/')) return join(sys, path.slice(4));
    return path;
  };
  const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  return {
    resolve,
    // /proc is kernel memory: a synchronous read through a kept descriptor (procfs.ts) is cheaper than four
    // thread-pool hops. /sys stays asynchronous: a 1-Wire w1_slave read blocks ~750 ms while the sensor converts.
    readText: async (path) => (path.startsWith('/proc/') ? readProc(path) : readFile(resolve(path), 'utf8')),
    async readTextIfExists(path) {
      try {
        return await readFile(resolve(path), 'utf8');
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async list(dir) {
      try {
        return (await readdir(resolve(dir))).sort();
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
    },
    close: () => procReader?.close(),
  };
}
