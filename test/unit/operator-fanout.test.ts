import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fanOut, type Io } from '../../src/operator/session.js';

function io(tty: boolean) {
  let stderr = '';
  const err = Object.assign(
    new Writable({
      write(chunk, _e, done) {
        stderr += String(chunk);
        done();
      },
    }),
    { isTTY: tty },
  );
  return { io: { stdout: process.stdout, stderr: err, env: {} } as unknown as Io, stderr: () => stderr };
}

describe('fanOut', () => {
  it('runs at most `concurrency` at once and keeps the order of the JIDs in its results', async () => {
    let running = 0;
    let most = 0;
    const jids = Array.from({ length: 10 }, (_, i) => `t${i}@example.org`);
    const { io: out } = io(false);
    const results = await fanOut(
      out,
      jids,
      'reading',
      async (jid) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, jid.endsWith('3@example.org') ? 30 : 5));
        running--;
        if (jid === 't4@example.org') throw new Error('offline');
        return jid.length;
      },
      3,
    );
    expect(most).toBe(3);
    expect(results.map((r) => r.jid)).toEqual(jids);
    expect(results[4]).toEqual({ jid: 't4@example.org', ok: false, error: 'offline' });
  });

  it('shows progress on a terminal only, and clears it at the end', async () => {
    const tty = io(true);
    await fanOut(tty.io, ['a@x', 'b@x'], 'reading', async () => 1, 1);
    expect(tty.stderr()).toBe('\rreading 0/2…\rreading 1/2…\rreading 2/2…\r\x1b[K');
    const pipe = io(false);
    await fanOut(pipe.io, ['a@x', 'b@x'], 'reading', async () => 1, 1);
    expect(pipe.stderr()).toBe('');
  });
});
