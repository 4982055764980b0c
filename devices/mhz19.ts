/**
 * Winsen MH-Z19/MH-Z19B/C CO₂ sensor (UART, 9600 8N1). Polled: the agent sends the 9-byte "read CO₂" command
 * `FF 01 86 00 00 00 00 00 79` and the sensor answers `FF 86 HH LL TT SS U1 U2 CS`, CO₂ = HH·256 + LL ppm,
 * checksum = 0x100 − (sum of bytes 1..7) (MH-Z19B manual v1.0, §"Communication protocol"). TT − 40 is the
 * sensor's internal temperature (undocumented, but stable across revisions). The port is opened for each read
 * and always closed, so an unplugged sensor is simply a failed read that the runner retries.
 */
import { DeviceError, DeviceTimeoutError, FrameError, IotError } from '../src/core/errors.js';
import { createFixedFrameSplitter, negSum8 } from '../src/sdk/frames.js';
import { defineDevice, v, type Values } from '../src/sdk/index.js';

const options = v.strictObject({
  port: v.optional(v.pipe(v.string(), v.minLength(1)), '/dev/serial0'),
  baudRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 9600),
  /** How long to wait for the answer. */
  responseTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(10_000)), 1000),
});

export const MHZ19_READ_CO2 = Uint8Array.from([0xff, 0x01, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79]);

/** A 9-byte command frame: FF 01 CMD B3..B7 checksum (same checksum as the answers). */
export function mhz19Command(command: number, b3 = 0): Uint8Array {
  const frame = Uint8Array.from([0xff, 0x01, command, b3, 0x00, 0x00, 0x00, 0x00, 0x00]);
  frame[8] = negSum8(frame, 1, 8);
  return frame;
}
/** Automatic baseline correction on (A0) or off (00): command 0x79 (MH-Z19B manual). */
export const mhz19Abc = (on: boolean) => mhz19Command(0x79, on ? 0xa0 : 0x00);
/** Zero-point calibration (the sensor must have been in ~400 ppm fresh air for 20 minutes): command 0x87. */
export const MHZ19_ZERO_CALIBRATION = mhz19Command(0x87);

export function checkMhz19(frame: Uint8Array): string | undefined {
  if (frame.length !== 9) return `MH-Z19 frame of ${frame.length} bytes`;
  if (negSum8(frame, 1, 8) !== frame[8]) return 'MH-Z19 checksum mismatch';
  return undefined;
}

export function decodeMhz19(frame: Uint8Array): Values {
  const problem = checkMhz19(frame);
  if (problem) throw new FrameError(problem);
  return { co2: (frame[2] as number) * 256 + (frame[3] as number), temperature: (frame[4] as number) - 40 };
}

export default defineDevice({
  type: 'mhz19',
  description: 'MH-Z19 CO₂ sensor (NDIR)',
  options,
  fields: [
    { name: 'co2', type: 'numeric', unit: 'ppm', decimals: 0, description: 'CO₂ concentration' },
    {
      name: 'temperature',
      type: 'numeric',
      unit: '°C',
      decimals: 0,
      description: 'Sensor-internal temperature (coarse)',
      flags: ['status'],
    },
  ],
  controls: [
    {
      name: 'automaticBaselineCorrection',
      type: 'boolean',
      description: 'Automatic baseline correction (the sensor assumes fresh air once a day)',
    },
    {
      name: 'calibrateZero',
      type: 'boolean',
      description: 'true: calibrate 400 ppm now (after 20 minutes in fresh air); false does nothing',
    },
  ],
  source: {
    kind: 'poll',
    defaultInterval: '30s',
    async set({ hal, options: o }, values) {
      if (!hal.serial) throw new DeviceError('this host provides no serial ports (hal.serial is absent)');
      const frames: Uint8Array[] = [];
      if (values.automaticBaselineCorrection !== undefined)
        frames.push(mhz19Abc(values.automaticBaselineCorrection === true));
      if (values.calibrateZero === true) frames.push(MHZ19_ZERO_CALIBRATION);
      if (frames.length === 0) return;
      const link = await hal.serial.open({ path: o.port, baudRate: o.baudRate });
      try {
        for (const frame of frames) await link.write(frame);
      } finally {
        await link.close();
      }
    },
    async read({ hal, options: o, signal }) {
      if (!hal.serial) throw new DeviceError('this host provides no serial ports (hal.serial is absent)');
      const link = await hal.serial.open({ path: o.port, baudRate: o.baudRate });
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      try {
        const splitter = createFixedFrameSplitter({ header: [0xff, 0x86], length: 9, check: checkMhz19 });
        const answer = new Promise<Values>((resolve, reject) => {
          timer = setTimeout(() => reject(new DeviceTimeoutError(o.responseTimeoutMs)), o.responseTimeoutMs);
          onAbort = () => reject(new IotError('IOT_ERR_STOPPED', 'stopped while waiting for the sensor'));
          signal.addEventListener('abort', onAbort);
          link.onClose(reject);
          link.onData((chunk) => {
            const event = splitter.push(chunk)[0];
            // A bad answer fails this read (the runner reports it and retries); stray bytes before it do not.
            if (event && 'error' in event) reject(new FrameError(event.error));
            else if (event) {
              try {
                resolve(decodeMhz19(event.frame));
              } catch (err) {
                reject(err);
              }
            }
          });
        });
        answer.catch(() => undefined); // settled below or abandoned when the write fails
        await link.write(MHZ19_READ_CO2);
        return await answer;
      } finally {
        clearTimeout(timer);
        if (onAbort) signal.removeEventListener('abort', onAbort);
        await link.close();
      }
    },
  },
});
