/**
 * Reads /proc files through descriptors kept open, at offset 0 each time (pread): the kernel generates a /proc
 * file afresh on every read from its start, so the text is as current as with open/read/close, in one or two
 * system calls instead of five (open, fstat, read, read, close). The same technique as monitoring agents that
 * poll /proc many times a second. For the readout path (issue 12) this was most of the device read's cost.
 *
 * For the real /proc only: its files are never replaced or removed while the system runs. A simulated root
 * (`hardware.procRoot`) holds ordinary files that tests rewrite, rename over and remove; files.ts reads those
 * the ordinary way (checking a kept descriptor with fstat costs as much as reopening: a Stats object each time).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export interface ProcReader {
  read(path: string): string;
  /** Closes every descriptor kept open. Reading again reopens. */
  close(): void;
}

/** Descriptors kept open at most; further paths are read the ordinary way. */
const MAX_OPEN = 32;
/** The read buffer's first size (/proc/meminfo is ~1.5 KiB); a larger file doubles it until the file fits. */
const INITIAL_BUFFER = 16 * 1024;

export function createProcReader(): ProcReader {
  const open = new Map<string, number>();
  let buf = Buffer.allocUnsafe(INITIAL_BUFFER);

  const drop = (path: string) => {
    const fd = open.get(path);
    if (fd === undefined) return;
    open.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already gone: nothing to release
    }
  };

  const readAll = (fd: number): string => {
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const n = readSync(fd, buf, length, buf.length - length, length);
      if (n === 0) return buf.toString('utf8', 0, length);
      length += n;
    }
  };

  return {
    read(path) {
      let fd = open.get(path);
      if (fd === undefined) {
        if (open.size >= MAX_OPEN) return readFileSync(path, 'utf8');
        fd = openSync(path, 'r'); // ENOENT and the like reach the caller as from readFileSync
        open.set(path, fd);
      }
      try {
        return readAll(fd);
      } catch {
        // A descriptor that went bad (a /proc/PID file of an ended process): the ordinary read says why.
        drop(path);
        return readFileSync(path, 'utf8');
      }
    },
    close() {
      for (const path of [...open.keys()]) drop(path);
    },
  };
}
