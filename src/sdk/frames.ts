/**
 * Framing for serial devices: pure splitters (bytes in, frames out, whatever the chunk boundaries), checksums,
 * and `serialStreamSource`, which turns a frame decoder into a stream source. Bad frames never become readings:
 * they are counted (`frameErrors`) and logged once per state change (first bad frame, then recovery).
 */
import { DeviceError } from '../core/errors.js';
import type { ControlValues, FieldSpec, SourceContext, StreamHandle, StreamSource, Values } from './index.js';

/** Sum of bytes modulo 256 (SDS011). */
export function sum8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + (bytes[i] as number)) & 0xff;
  return sum;
}

/** Sum of bytes modulo 65536 (PMS5003). */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + (bytes[i] as number)) & 0xffff;
  return sum;
}

/** Two's complement of the byte sum (MH-Z19: `0xff - sum(bytes 1..7) + 1`). */
export function negSum8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return (0x100 - sum8(bytes, start, end)) & 0xff;
}

/** XOR of the characters between `$` and `*` (NMEA 0183), as two upper-case hex digits. */
export function nmeaChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

export function u16be(bytes: Uint8Array, at: number): number {
  return (((bytes[at] as number) << 8) | (bytes[at + 1] as number)) >>> 0;
}
export function u16le(bytes: Uint8Array, at: number): number {
  return (((bytes[at + 1] as number) << 8) | (bytes[at] as number)) >>> 0;
}

/** What a splitter made of the bytes so far, in order: complete frames, and problems (each one frame error). */
export type SplitEvent<F> = { frame: F } | { error: string };

export interface Splitter<F> {
  push(chunk: Uint8Array): SplitEvent<F>[];
}

/**
 * Lines ended by `\n` (a preceding `\r` is dropped), decoded as latin1 so no byte is lost; empty lines are skipped.
 * A line longer than `maxLength` (noise, a wrong baud rate) is dropped up to its end and counted as one error.
 */
export function createLineSplitter(options: { maxLength?: number } = {}): Splitter<string> {
  const maxLength = options.maxLength ?? 512;
  let pending = '';
  let overflow = false;
  return {
    push(chunk) {
      const out: SplitEvent<string>[] = [];
      const text = pending + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
      const parts = text.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) {
        const line = part.endsWith('\r') ? part.slice(0, -1) : part;
        if (overflow || line.length > maxLength) {
          if (!overflow) out.push({ error: `line longer than ${maxLength} characters` });
          overflow = false;
          continue;
        }
        if (line.length > 0) out.push({ frame: line });
      }
      if (pending.length > maxLength) {
        if (!overflow) out.push({ error: `line longer than ${maxLength} characters` });
        overflow = true;
        pending = '';
      }
      return out;
    },
  };
}

export interface FixedFrameSpec {
  /** Bytes every frame starts with (`AA C0`, `42 4D`). */
  header: readonly number[];
  /** Total frame length, or a function of the bytes received so far (undefined: need more; NaN: impossible). */
  length: number | ((head: Uint8Array) => number | undefined);
  /** Largest frame a length function may announce; longer ones are rejected as bad. */
  maxLength?: number;
  /** Returns why a complete frame is bad (trailer, checksum), or undefined when it is good. */
  check(frame: Uint8Array): string | undefined;
}

/**
 * Frames that start with a fixed header. A frame whose check fails is counted and the search resumes one byte
 * after its header (resync), so a corrupted frame cannot swallow the good one that follows.
 */
export function createFixedFrameSplitter(spec: FixedFrameSpec): Splitter<Uint8Array> {
  const header = Uint8Array.from(spec.header);
  const maxLength = spec.maxLength ?? (typeof spec.length === 'number' ? spec.length : 256);
  let buf = new Uint8Array(0);
  // Stray bytes count as one error per run, only right after a good frame: before the first one the stream was
  // joined mid-frame, and after a bad frame they are the rest of that frame (already counted).
  let afterGood = false;
  let skipped = 0;

  const headerAt = (at: number): boolean => {
    for (let i = 0; i < header.length && at + i < buf.length; i++)
      if (buf[at + i] !== header[i]) return false;
    return true;
  };

  return {
    push(chunk) {
      const out: SplitEvent<Uint8Array>[] = [];
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf, 0);
      joined.set(chunk, buf.length);
      buf = joined;
      let at = 0;
      const flushSkipped = () => {
        if (skipped > 0 && afterGood)
          out.push({ error: `${skipped} stray byte${skipped > 1 ? 's' : ''} between frames` });
        skipped = 0;
      };
      while (at < buf.length) {
        if (!headerAt(at)) {
          at++;
          skipped++;
          continue;
        }
        // A partial header at the end: wait for more bytes.
        if (buf.length - at < header.length) break;
        const head = buf.subarray(at);
        const length = typeof spec.length === 'number' ? spec.length : spec.length(head);
        if (length === undefined) break;
        if (!Number.isFinite(length) || length < header.length || length > maxLength) {
          flushSkipped();
          out.push({ error: `impossible frame length ${length}` });
          afterGood = false;
          at++;
          continue;
        }
        if (buf.length - at < length) break;
        const frame = buf.slice(at, at + length);
        const problem = spec.check(frame);
        flushSkipped();
        if (problem) {
          out.push({ error: problem });
          afterGood = false;
          at++;
          continue;
        }
        afterGood = true;
        out.push({ frame });
        at += length;
      }
      buf = buf.slice(at);
      return out;
    },
  };
}

/** The counter every serial stream device reports (status flag: readouts ask for it by type). */
export const frameErrorsField: FieldSpec = {
  name: 'frameErrors',
  type: 'numeric',
  unit: '',
  decimals: 0,
  description: 'Bad frames (checksum, framing, garbage) since the agent started',
  flags: ['status'],
};

export interface SerialStreamOptions {
  port: string;
  baudRate: number;
}

/**
 * A stream source for a serial device that talks on its own: opens the port, splits the bytes, decodes each
 * frame and emits its values plus `frameErrors`. A frame the decoder rejects (it throws) is a frame error too.
 * The port closing or failing is reported through `fail`; the runner restarts the source with backoff.
 */
export function serialStreamSource<O extends SerialStreamOptions, F>(spec: {
  splitter: (options: O) => Splitter<F>;
  /**
   * Made once per opening of the port (it may keep state across frames, as a GPS merging sentences does).
   * Returns the values of one frame, undefined when the frame carries nothing to report, or throws when bad.
   */
  decoder(options: O): (frame: F) => Values | undefined;
  /** Actuators: the bytes that apply validated XEP-0325 parameters, written in order on the open port. */
  commands?(options: O, values: ControlValues): Uint8Array[];
}): StreamSource<O> {
  // Per runner (its context is stable across restarts), so the count survives reopening the port.
  const counters = new WeakMap<object, { errors: number; bad: boolean }>();
  return {
    kind: 'stream',
    async start(ctx: SourceContext<O>, emit, fail): Promise<StreamHandle> {
      const serial = ctx.hal.serial;
      if (!serial) throw new DeviceError('this host provides no serial ports (hal.serial is absent)');
      const counter = counters.get(ctx) ?? { errors: 0, bad: false };
      counters.set(ctx, counter);
      const link = await serial.open({ path: ctx.options.port, baudRate: ctx.options.baudRate });
      const splitter = spec.splitter(ctx.options);
      const decode = spec.decoder(ctx.options);
      let stopped = false;

      const badFrame = (problem: string) => {
        counter.errors++;
        if (!counter.bad) {
          counter.bad = true;
          ctx.log.warn(
            { device: ctx.deviceId, frameErrors: counter.errors, problem },
            'bad frames from the device (counted in frameErrors; logged again on recovery)',
          );
        }
      };
      link.onData((chunk) => {
        if (stopped) return;
        for (const event of splitter.push(chunk)) {
          if ('error' in event) {
            badFrame(event.error);
            continue;
          }
          let values: Values | undefined;
          try {
            values = decode(event.frame);
          } catch (err) {
            badFrame((err as Error).message);
            continue;
          }
          if (!values) continue;
          if (counter.bad) {
            counter.bad = false;
            ctx.log.info({ device: ctx.deviceId, frameErrors: counter.errors }, 'good frames again');
          }
          emit({ ...values, frameErrors: counter.errors });
        }
      });
      link.onClose((err) => {
        if (!stopped) fail(err);
      });
      const { commands } = spec;
      return {
        async stop() {
          stopped = true;
          await link.close();
        },
        ...(commands
          ? {
              async set(values: ControlValues) {
                for (const bytes of commands(ctx.options, values)) await link.write(bytes);
              },
            }
          : {}),
      };
    },
  };
}
