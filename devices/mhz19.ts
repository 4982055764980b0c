/**
 * Winsen MH-Z19/MH-Z19B/C CO₂ sensor (UART, 9600 8N1). Polled: the agent sends the 9-byte "read CO₂" command
 * `FF 01 86 00 00 00 00 00 79` and the sensor answers `FF 86 HH LL TT SS U1 U2 CS`, CO₂ = HH·256 + LL ppm,
 * checksum = 0x100 − (sum of bytes 1..7) (MH-Z19B manual v1.0, §"Communication protocol"). TT − 40 is the
 * sensor's internal temperature (undocumented, but stable across revisions). The port is opened for each read
 * and always closed, so an unplugged sensor is simply a failed read that the runner retries.
 */
import { z } from 'zod';
import { DeviceError, DeviceTimeoutError, FrameError, IotError } from '../src/core/errors.js';
import { createFixedFrameSplitter, negSum8 } from '../src/sdk/frames.js';
import { defineDevice, type Values } from '../src/sdk/index.js';

const options = z
  .object({
    port: z.string().min(1).default('/dev/serial0'),
    baudRate: z.number().int().positive().default(9600),
    /** How long to wait for the answer. */
    responseTimeoutMs: z.number().int().min(10).max(10_000).default(1000),
  })
  .strict();

export const MHZ19_READ_CO2 = Uint8Array.from([0xff, 0x01, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79]);

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
  source: {
    kind: 'poll',
    defaultInterval: '30s',
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
