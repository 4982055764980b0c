/**
 * Runs an agent in a child process inside a private mount namespace where the GPIO simulator is bound over
 * /sys/class, so unmodified onoff finds it at /sys/class/gpio. The child is compiled with tsc (the repo's own
 * compiler, ~3 s) into node_modules/.cache, where it resolves the installed packages like the built agent does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpioSimulator } from '../../firmware-sim/gpio/simulator.js';
import type { Reading } from '../../src/model/fields.js';
import type { ControlValues } from '../../src/sdk/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Compiles `test/helpers/gpio-agent-child.ts` and what it imports; returns the entry to run with node. */
export function compileChildAgent(): { entry: string; remove(): void } {
  const cache = join(REPO, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(join(cache, 'xiot-child-'));
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--outDir',
      outDir,
      '--rootDir',
      REPO,
      '--target',
      'ES2022',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--types',
      'node',
      '--skipLibCheck',
      '--esModuleInterop',
      '--resolveJsonModule',
      // Type errors elsewhere in a working tree must not stop the run: tsc -p checks types, this only emits.
      '--noCheck',
      join(REPO, 'test', 'helpers', 'gpio-agent-child.ts'),
    ],
    { encoding: 'utf8', cwd: REPO },
  );
  const remove = () => rmSync(outDir, { recursive: true, force: true });
  if (r.status !== 0) {
    remove();
    throw new Error(`compiling the child agent failed:\n${r.stdout}${r.stderr}`);
  }
  return { entry: join(outDir, 'test', 'helpers', 'gpio-agent-child.js'), remove };
}

export interface NamespacedAgent {
  /** Readings the agent stored, in order, with the time this process received each. */
  readings: { reading: Reading; receivedAt: number }[];
  /** The device runner's `set` (what XEP-0325 control calls), run in the child. */
  set(device: string, values: ControlValues): Promise<void>;
  /** Graceful stop (devices stopped, lines unexported); kills after `timeoutMs`. Resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  stderr(): string;
}

type ChildMessage =
  | { op: 'ready' }
  | { op: 'fatal'; error: string }
  | { op: 'reading'; reading: Reading }
  | { op: 'result'; ref: number; error?: string };

export async function startNamespacedAgent(
  sim: GpioSimulator,
  entry: string,
  configPath: string,
  timeoutMs = 20_000,
): Promise<NamespacedAgent> {
  const { command, args } = sim.namespaceCommand([process.execPath, entry, configPath]);
  const child: ChildProcess = spawn(command, args, {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    cwd: REPO,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readings: NamespacedAgent['readings'] = [];
  const pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  let nextRef = 1;
  let ready: () => void = () => undefined;
  let failed: (err: Error) => void = () => undefined;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  child.on('message', (m: ChildMessage) => {
    if (m.op === 'ready') ready();
    else if (m.op === 'fatal') failed(new Error(`child agent: ${m.error}\n${stderr}`));
    else if (m.op === 'reading') readings.push({ reading: m.reading, receivedAt: Date.now() });
    else {
      const p = pending.get(m.ref);
      pending.delete(m.ref);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve();
    }
  });
  void exited.then((code) => {
    failed(new Error(`child agent exited (${code}) before it was ready:\n${stderr}`));
    for (const p of pending.values()) p.reject(new Error('child agent exited'));
    pending.clear();
  });

  const stop = async (stopTimeoutMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    if (child.connected) child.send({ op: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const timer = setTimeout(
    () => failed(new Error(`child agent not ready within ${timeoutMs} ms:\n${stderr}`)),
    timeoutMs,
  );
  try {
    await started;
  } catch (err) {
    await stop(1000);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    readings,
    set(device, values) {
      const ref = nextRef++;
      return new Promise<void>((resolve, reject) => {
        pending.set(ref, { resolve, reject });
        child.send({ op: 'set', ref, device, values });
      });
    },
    stop,
    stderr: () => stderr,
  };
}
