/**
 * A connected pair of pseudo-terminals made by socat: the driver under test opens `devicePath` with serialport,
 * the simulated device reads and writes `simPath`. Unplugging kills socat (both links vanish and the driver's
 * port closes with `disconnected`); replugging starts a new socat at the same link paths.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface PtyPair {
  /** The path the driver opens (a symlink to /dev/pts/N while plugged in). */
  readonly devicePath: string;
  /** The path the simulated device opens. */
  readonly simPath: string;
  readonly plugged: boolean;
  /** Kills socat: both ends vanish. Resolves once it has exited. Idempotent. */
  unplug(): Promise<void>;
  /** Starts socat again at the same paths; resolves once data flows. Idempotent. */
  replug(): Promise<void>;
  stop(): Promise<void>;
}

export interface PtyPairOptions {
  /** Folder for the two links (a temp dir; keep it short). */
  dir: string;
  /** Link names: `${name}` for the driver, `${name}.sim` for the device (default `tty`). */
  name?: string;
  /** How long socat may take to come up (default 5 s). */
  startTimeoutMs?: number;
}

/** socat processes still running: killed when Node exits, even after an abrupt end (EPIPE, uncaught error). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

export async function startPtyPair(options: PtyPairOptions): Promise<PtyPair> {
  const name = options.name ?? 'tty';
  const devicePath = join(options.dir, name);
  const simPath = join(options.dir, `${name}.sim`);
  const startTimeoutMs = options.startTimeoutMs ?? 5000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;

  const launch = async () => {
    // A socat killed with SIGKILL leaves its links behind; a new one would refuse to replace them.
    rmSync(devicePath, { force: true });
    rmSync(simPath, { force: true });
    const proc = spawn(
      'socat',
      ['-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${simPath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    track(proc);
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`socat did not start within ${startTimeoutMs} ms: ${log.trim()}`));
      }, startTimeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        proc.stderr?.removeAllListeners('data');
        proc.stderr?.resume(); // keep draining, never block socat on a full pipe
        proc.removeListener('error', onError);
        proc.removeListener('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      const onError = (err: Error) => done(err);
      const onExit = (code: number | null) => done(new Error(`socat exited with ${code}: ${log.trim()}`));
      proc.once('error', onError);
      proc.once('exit', onExit);
      proc.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('starting data transfer loop')) done();
      });
    });
  };

  const unplug = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };

  await launch();
  return {
    devicePath,
    simPath,
    get plugged() {
      return child !== undefined;
    },
    unplug,
    async replug() {
      if (child) return;
      await launch();
    },
    async stop() {
      await unplug();
      rmSync(devicePath, { force: true });
      rmSync(simPath, { force: true });
    },
  };
}
