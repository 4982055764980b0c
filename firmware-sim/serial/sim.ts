/**
 * What every serial device simulator shares: the device end of a pty pair (opened with serialport, reopened
 * after a replug), a scenario (value curve, send interval, faults) and the fault mechanics (corrupted
 * checksums, garbage bytes, frames split across writes). Device files supply only the wire encoding.
 */
import { SerialPort } from 'serialport';
import { type PtyPair, startPtyPair } from './pty.js';

/** Values as a function of time since start (seconds) and the frame number. */
export type Curve<V> = (t: number, n: number) => V;

export interface Faults {
  /** Every Nth frame (1-based: N, 2N, …) goes out with a wrong checksum. */
  badChecksumEvery?: number;
  /** Every Nth frame is preceded by a few garbage bytes. */
  garbageEvery?: number;
  /** Every Nth frame is written in two parts, `splitDelayMs` apart. */
  splitEvery?: number;
  splitDelayMs?: number;
  /** Request/response devices: every Nth request gets no answer. */
  silentEvery?: number;
}

export interface Scenario<V> {
  values: Curve<V>;
  /** Self-sending devices: time between frames (default: the device's own, e.g. 1 s). */
  intervalMs?: number;
  faults?: Faults;
}

/** How a device speaks: frames for values, a corrupted variant, and (request/response devices) a parser. */
export interface WireProtocol<V> {
  encode(values: V): Uint8Array;
  /** The same frame with a checksum that does not match. */
  corrupt(frame: Uint8Array): Uint8Array;
  /** Request/response devices: the number of complete requests in `pending` it consumed, and the answer. */
  answer?(pending: Uint8Array): { consumed: number; respond: boolean } | undefined;
  /** Garbage that cannot be mistaken for a frame start. */
  garbage?: Uint8Array;
}

export interface SerialSimOptions<V> {
  /** Folder for the pty links. */
  dir: string;
  name?: string;
  scenario: Scenario<V>;
  /** Self-sending devices: the default interval. Omit for request/response devices. */
  defaultIntervalMs?: number;
}

export interface SerialSim {
  /** What the agent's `port` option points at. */
  readonly devicePath: string;
  readonly pty: PtyPair;
  /** Frames sent (good or corrupted) and requests answered. */
  readonly stats: { frames: number; corrupted: number; requests: number };
  /** Kills the pty pair: the driver's port vanishes. */
  unplug(): Promise<void>;
  /** Recreates the pair at the same path and resumes sending. */
  replug(): Promise<void>;
  /** Writes raw bytes now (scripted garbage, hand-made frames). */
  inject(bytes: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function startSerialSim<V>(
  protocol: WireProtocol<V>,
  options: SerialSimOptions<V>,
): Promise<SerialSim> {
  const pty = await startPtyPair({ dir: options.dir, ...(options.name ? { name: options.name } : {}) });
  const { scenario } = options;
  const faults = scenario.faults ?? {};
  const stats = { frames: 0, corrupted: 0, requests: 0 };
  const startedAt = Date.now();
  const garbage = protocol.garbage ?? Uint8Array.from([0x00, 0x13, 0x37, 0x5a]);
  let port: SerialPort | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let pending = new Uint8Array(0);
  const every = (k: number | undefined, n: number) => k !== undefined && k > 0 && n % k === 0;

  const writeRaw = (bytes: Uint8Array) =>
    new Promise<void>((resolve) => {
      const p = port;
      if (!p?.isOpen) return resolve();
      p.write(Buffer.from(bytes), () => p.drain(() => resolve()));
    });

  const sendFrame = async () => {
    const n = ++stats.frames;
    let frame = protocol.encode(scenario.values((Date.now() - startedAt) / 1000, n));
    if (every(faults.badChecksumEvery, n)) {
      frame = protocol.corrupt(frame);
      stats.corrupted++;
    }
    if (every(faults.garbageEvery, n)) await writeRaw(garbage);
    if (every(faults.splitEvery, n) && frame.length > 1) {
      const cut = Math.max(1, Math.floor(frame.length / 2));
      await writeRaw(frame.subarray(0, cut));
      await new Promise((r) => setTimeout(r, faults.splitDelayMs ?? 30));
      await writeRaw(frame.subarray(cut));
    } else {
      await writeRaw(frame);
    }
  };

  const onData = (chunk: Buffer) => {
    if (!protocol.answer) return;
    const joined = new Uint8Array(pending.length + chunk.length);
    joined.set(pending);
    joined.set(chunk, pending.length);
    pending = joined;
    for (;;) {
      const request = protocol.answer(pending);
      if (!request) break;
      pending = pending.slice(request.consumed);
      if (!request.respond) continue;
      const n = ++stats.requests;
      if (every(faults.silentEvery, n)) continue;
      void sendFrame();
    }
  };

  const open = async () => {
    const p = new SerialPort({ path: pty.simPath, baudRate: 9600, autoOpen: false });
    p.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())));
    // Reading keeps the pty drained and notices the unplug (the port closes with `disconnected`).
    p.on('data', onData);
    port = p;
    pending = new Uint8Array(0);
    if (options.defaultIntervalMs !== undefined) {
      const interval = scenario.intervalMs ?? options.defaultIntervalMs;
      const tick = () => {
        if (stopped || port !== p) return;
        void sendFrame().finally(() => {
          if (!stopped && port === p) timer = setTimeout(tick, interval);
        });
      };
      timer = setTimeout(tick, Math.min(interval, 50));
    }
  };

  const close = async () => {
    clearTimeout(timer);
    const p = port;
    port = undefined;
    if (!p) return;
    p.removeAllListeners('data');
    if (p.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()));
    p.removeAllListeners();
    p.on('error', () => undefined);
  };

  await open();
  return {
    devicePath: pty.devicePath,
    pty,
    stats,
    async unplug() {
      await close();
      await pty.unplug();
    },
    async replug() {
      await pty.replug();
      if (!stopped && !port) await open();
    },
    inject: writeRaw,
    async stop() {
      stopped = true;
      await close();
      await pty.stop();
    },
  };
}

/** Value curves for scenarios. */
export const curves = {
  constant:
    (value: number): Curve<number> =>
    () =>
      value,
  /** A sine around `mean` (period in seconds). */
  sine:
    (mean: number, amplitude: number, periodS: number): Curve<number> =>
    (t) =>
      mean + amplitude * Math.sin((2 * Math.PI * t) / periodS),
  /** Starts at `from`, adds `step` per frame. */
  ramp:
    (from: number, step: number): Curve<number> =>
    (_t, n) =>
      from + step * (n - 1),
};
