/**
 * Nova Fitness SDS011 particulate sensor (UART, 9600 8N1). In its default active mode it sends one 10-byte frame
 * per second: `AA C0 PM25lo PM25hi PM10lo PM10hi id1 id2 checksum AB`, checksum = sum of the 6 data bytes,
 * values in tenths of µg/m³ (Nova Fitness SDS011 datasheet v1.3, §"UART communication protocol").
 */
import { FrameError } from '../src/core/errors.js';
import {
  createFixedFrameSplitter,
  frameErrorsField,
  serialStreamSource,
  sum8,
  u16le,
} from '../src/sdk/frames.js';
import { defineDevice, v } from '../src/sdk/index.js';

const options = v.strictObject({
  port: v.optional(v.pipe(v.string(), v.minLength(1)), '/dev/serial0'),
  baudRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 9600),
});

export const SDS011_FRAME = { header: [0xaa, 0xc0], length: 10, trailer: 0xab } as const;

export function checkSds011(frame: Uint8Array): string | undefined {
  if (frame[9] !== SDS011_FRAME.trailer) return 'SDS011 frame without its AB trailer';
  if (sum8(frame, 2, 8) !== frame[8]) return 'SDS011 checksum mismatch';
  return undefined;
}

export function decodeSds011(frame: Uint8Array): { pm25: number; pm10: number } {
  if (checkSds011(frame)) throw new FrameError(checkSds011(frame) as string);
  return { pm25: u16le(frame, 2) / 10, pm10: u16le(frame, 4) / 10 };
}

export default defineDevice({
  type: 'sds011',
  description: 'SDS011 particulate matter sensor (PM2.5, PM10)',
  options,
  fields: [
    { name: 'pm25', type: 'numeric', unit: 'µg/m³', decimals: 1, description: 'PM2.5 mass concentration' },
    { name: 'pm10', type: 'numeric', unit: 'µg/m³', decimals: 1, description: 'PM10 mass concentration' },
    frameErrorsField,
  ],
  source: serialStreamSource({
    splitter: () =>
      createFixedFrameSplitter({
        header: SDS011_FRAME.header,
        length: SDS011_FRAME.length,
        check: checkSds011,
      }),
    decoder: () => decodeSds011,
  }),
});
